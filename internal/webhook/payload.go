package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/events"
)

// Payload is Harbor's Default payload (src/pkg/notifier/model/event.go).
// EventData is a map so that an event's Detail may add its own keys
// (custom_attributes, scan, replication, retention); it is kept as JSON
// (the execution's payload) and read back as it is.
type Payload struct {
	Type      string                     `json:"type"`
	OccurAt   int64                      `json:"occur_at"`
	Operator  string                     `json:"operator"`
	EventData map[string]json.RawMessage `json:"event_data,omitempty"`
}

// set marshals v as event_data's key k.
func (p *Payload) set(k string, v any) {
	if b, err := json.Marshal(v); err == nil {
		p.EventData[k] = b
	}
}

// repository and resources read event_data's parts back (zero if absent).
func (p *Payload) repository() (r Repository, ok bool) {
	raw, ok := p.EventData["repository"]
	return r, ok && json.Unmarshal(raw, &r) == nil
}

func (p *Payload) resources() (rs []Resource) {
	if raw, ok := p.EventData["resources"]; ok {
		_ = json.Unmarshal(raw, &rs)
	}
	return rs
}

// Resource is Harbor's event_data.resources item.
type Resource struct {
	Digest      string `json:"digest,omitempty"`
	Tag         string `json:"tag,omitempty"`
	ResourceURL string `json:"resource_url,omitempty"`
}

// Repository is Harbor's event_data.repository.
type Repository struct {
	DateCreated  int64  `json:"date_created,omitempty"`
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
	RepoType     string `json:"repo_type"`
}

// EventDataer is what an event's Detail implements to add keys to
// event_data (a quota event's custom_attributes, a scan's overview).
type EventDataer interface {
	EventData() map[string]any
}

// payloadOf builds the Default payload of e with tags (those passing the
// policy's filters), host being the registry's host for resource URLs.
func payloadOf(e events.Event, tags []string, public bool, host string) Payload {
	p := Payload{Type: string(e.Type), OccurAt: e.At.Unix(), Operator: e.Operator, EventData: map[string]json.RawMessage{}}
	if e.Repo != "" {
		rt := "private"
		if public {
			rt = "public"
		}
		p.set("repository", Repository{Name: strings.TrimPrefix(e.Repo, e.Project+"/"), Namespace: e.Project,
			RepoFullName: e.Repo, RepoType: rt})
		var res []Resource
		for _, t := range tags {
			res = append(res, Resource{Digest: string(e.Digest), Tag: t, ResourceURL: host + "/" + e.Repo + ":" + t})
		}
		if len(res) == 0 && e.Digest != "" {
			// Harbor: for an artifact addressed by digest, tag holds the digest.
			res = append(res, Resource{Digest: string(e.Digest), Tag: string(e.Digest), ResourceURL: host + "/" + e.Repo + "@" + string(e.Digest)})
		}
		if len(res) > 0 {
			p.set("resources", res)
		}
	}
	if d, ok := e.Detail.(EventDataer); ok {
		for k, v := range d.EventData() {
			p.set(k, v)
		}
	}
	return p
}

// cloudEventTypes is Harbor's mapping (src/pkg/notifier/formats/cloudevents.go).
var cloudEventTypes = map[string]string{
	string(events.PushArtifact):      "harbor.artifact.pushed",
	string(events.PullArtifact):      "harbor.artifact.pulled",
	string(events.DeleteArtifact):    "harbor.artifact.deleted",
	string(events.ScanningCompleted): "harbor.scan.completed",
	string(events.ScanningFailed):    "harbor.scan.failed",
	string(events.ScanningStopped):   "harbor.scan.stopped",
	string(events.QuotaExceed):       "harbor.quota.exceeded",
	string(events.QuotaWarning):      "harbor.quota.warned",
	string(events.Replication):       "harbor.replication.status.changed",
	string(events.TagRetention):      "harbor.tag_retention.finished",
}

// request is what a delivery sends: the body and its headers (the
// target's URL is completed at send time: DingTalk's signature is
// timed).
type request struct {
	body   []byte
	header http.Header
}

// delivery identifies what is rendered: the execution (a stable id for
// retries) and the policy.
type delivery struct {
	executionID, projectID, policyID int64
}

// render formats p for target t.
func render(t Target, p Payload, d delivery) (request, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	var v any = p
	switch t.Type {
	case NotifyHTTP:
		if t.PayloadFormat == FormatCloudEvents {
			h.Set("Content-Type", "application/cloudevents+json")
			v = cloudEvent(p, d)
		}
	case NotifySlack:
		v = slackMessage(p)
	case NotifyDingTalk:
		v = dingTalkMessage(p)
	case NotifyTeams:
		if t.PayloadFormat == FormatAdaptiveCard {
			v = adaptiveCard(p)
		} else {
			v = messageCard(p)
		}
	default:
		return request{}, fmt.Errorf("unsupported notify type %s", t.Type)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return request{}, err
	}
	return request{body: bytes.TrimRight(buf.Bytes(), "\n"), header: h}, nil
}

// cloudEvent is the structured-mode CloudEvents 1.0 envelope Harbor
// sends; id is stable across the retries of one delivery.
func cloudEvent(p Payload, d delivery) map[string]any {
	typ := cloudEventTypes[p.Type]
	if typ == "" {
		typ = "harbor." + strings.ToLower(p.Type)
	}
	return map[string]any{
		"specversion":     "1.0",
		"id":              fmt.Sprintf("berth-webhook-%d", d.executionID),
		"requestid":       fmt.Sprintf("%d", d.executionID),
		"source":          fmt.Sprintf("/projects/%d/webhook/policies/%d", d.projectID, d.policyID),
		"type":            typ,
		"time":            time.Unix(p.OccurAt, 0).UTC().Format(time.RFC3339),
		"operator":        p.Operator,
		"datacontenttype": "application/json",
		"data":            p.EventData,
	}
}

// eventDataJSON is the indented event_data the chat messages quote.
func eventDataJSON(p Payload) string {
	b, _ := json.MarshalIndent(p.EventData, "", "  ")
	return string(b)
}

// slackMessage is Harbor's Block Kit message (slack_handler.go).
func slackMessage(p Payload) map[string]any {
	section := func(text string) map[string]any {
		return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}
	}
	return map[string]any{"blocks": []any{
		section("*Harbor webhook events*"),
		section("*event_type:* " + p.Type),
		section(fmt.Sprintf("*occur_at:* <!date^%d^{date} at {time}|%s>", p.OccurAt, time.Unix(p.OccurAt, 0).UTC().Format(time.RFC1123))),
		section("*operator:* " + p.Operator),
		section("*event_data:*"),
		section("```" + eventDataJSON(p) + "```"),
	}}
}

// summary is one line saying what happened: "PUSH_ARTIFACT library/app:v1".
func summary(p *Payload) string {
	out := p.Type
	if r, ok := p.repository(); ok {
		out += " " + r.RepoFullName
		if res := p.resources(); len(res) > 0 {
			if strings.Contains(res[0].Tag, ":") {
				out += "@" + res[0].Tag
			} else {
				out += ":" + res[0].Tag
			}
		}
	}
	return out
}

// facts are the name/value lines of the chat messages, in a fixed order.
func facts(p *Payload) [][2]string {
	out := [][2]string{{"Event", p.Type}, {"Time", time.Unix(p.OccurAt, 0).UTC().Format(time.RFC3339)}, {"Operator", p.Operator}}
	if r, ok := p.repository(); ok {
		out = append(out, [2]string{"Repository", r.RepoFullName})
	}
	for _, x := range p.resources() {
		out = append(out, [2]string{"Artifact", x.ResourceURL})
	}
	var extra []string
	for k := range p.EventData {
		if k != "repository" && k != "resources" {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out = append(out, [2]string{k, string(p.EventData[k])})
	}
	return out
}

// dingTalkMessage is a DingTalk robot markdown message.
func dingTalkMessage(p Payload) map[string]any {
	var sb strings.Builder
	sb.WriteString("### " + summary(&p) + "\n")
	for _, f := range facts(&p) {
		sb.WriteString("- **" + f[0] + "**: " + f[1] + "\n")
	}
	return map[string]any{"msgtype": "markdown", "markdown": map[string]any{"title": summary(&p), "text": sb.String()}}
}

// messageCard is a Teams connector MessageCard (it needs a summary or a
// text, which Harbor's generic JSON lacks).
func messageCard(p Payload) map[string]any {
	var fs []map[string]string
	for _, f := range facts(&p) {
		fs = append(fs, map[string]string{"name": f[0], "value": f[1]})
	}
	return map[string]any{"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": summary(&p),
		"themeColor": "0076D7", "title": summary(&p), "sections": []any{map[string]any{"facts": fs}}}
}

// adaptiveCard is a Teams workflow message carrying an Adaptive Card.
func adaptiveCard(p Payload) map[string]any {
	var fs []map[string]string
	for _, f := range facts(&p) {
		fs = append(fs, map[string]string{"title": f[0], "value": f[1]})
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
		"version": "1.4", "body": []any{
			map[string]any{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": summary(&p)},
			map[string]any{"type": "FactSet", "facts": fs},
		}}
	return map[string]any{"type": "message", "attachments": []any{
		map[string]any{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}}}
}
