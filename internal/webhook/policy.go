// Package webhook notifies receivers of what happens in a project:
// Harbor's webhook policies (event types, targets, payload formats),
// berth's notify types (DingTalk, Microsoft Teams) and filters, and the
// delivery of every event as durable rows retried with backoff, signed
// with a per-policy secret, in order per artifact.
//
// Events come from the bus (internal/events) into a bounded buffer, so a
// push or a pull never waits for the database or a receiver; a goroutine
// turns them into rows (meta.WebhookStore), and workers of any replica
// deliver the rows under leases.
package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/berth-registry/berth/internal/events"
)

// Notify types: Harbor's http and slack, berth's dingtalk and teams.
const (
	NotifyHTTP     = "http"
	NotifySlack    = "slack"
	NotifyDingTalk = "dingtalk"
	NotifyTeams    = "teams"
)

// Payload formats: Harbor's (http targets), berth's for Teams.
const (
	FormatDefault      = "Default"
	FormatCloudEvents  = "CloudEvents"
	FormatMessageCard  = "MessageCard"
	FormatAdaptiveCard = "AdaptiveCard"
)

// EventTypes are the event types a policy may subscribe to, in Harbor's
// order (GET .../webhook/events).
var EventTypes = []events.Type{events.PushArtifact, events.PullArtifact, events.DeleteArtifact, events.QuotaExceed,
	events.QuotaWarning, events.ScanningFailed, events.ScanningStopped, events.ScanningCompleted, events.Replication,
	events.TagRetention}

// NotifyTypes lists the notify types with their payload formats (the
// first is the default).
var NotifyTypes = []struct {
	Type    string
	Formats []string
}{
	{NotifyHTTP, []string{FormatDefault, FormatCloudEvents}},
	{NotifySlack, nil},
	{NotifyDingTalk, nil},
	{NotifyTeams, []string{FormatMessageCard, FormatAdaptiveCard}},
}

// Redacted stands for a write-only value in what the API returns; sent
// back unchanged in an update it keeps the stored value.
const Redacted = "*****"

// Target is Harbor's WebhookTargetObject. For a dingtalk target,
// AuthHeader is DingTalk's signing secret ("SEC…"): it signs the URL and
// is not sent as a header.
type Target struct {
	Type           string `json:"type"`
	Address        string `json:"address"`
	AuthHeader     string `json:"auth_header,omitempty"`
	SkipCertVerify bool   `json:"skip_cert_verify"`
	PayloadFormat  string `json:"payload_format,omitempty"`
}

// Policy is Harbor's WebhookPolicy with berth's extensions: filters
// (doublestar patterns on the repository name within the project and on
// tags) and the signing secret, returned once when it is made.
type Policy struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	ProjectID    int64    `json:"project_id"`
	Targets      []Target `json:"targets"`
	EventTypes   []string `json:"event_types"`
	Creator      string   `json:"creator"`
	CreationTime string   `json:"creation_time"`
	UpdateTime   string   `json:"update_time"`
	Enabled      bool     `json:"enabled"`
	// RepositoryFilters: an event fires the policy only if its repository
	// (without the project, "team/app") matches one (none: every one).
	RepositoryFilters []string `json:"repository_filters,omitempty"`
	// TagFilters: an event carrying tags fires the policy only if one of
	// them matches one (none: every tag); its resources are the matching
	// tags. Events without tags are not held back by tag filters.
	TagFilters []string `json:"tag_filters,omitempty"`
	// Secret signs deliveries (X-Berth-Signature). Set on create or update
	// to choose it; generated on create otherwise; returned only by create.
	Secret string `json:"secret,omitempty"`
}

// stored is what the store keeps as a policy's JSON text.
type stored struct {
	EventTypes        []string `json:"event_types"`
	Targets           []Target `json:"targets"`
	RepositoryFilters []string `json:"repository_filters,omitempty"`
	TagFilters        []string `json:"tag_filters,omitempty"`
}

// InvalidError says why a policy is refused (400).
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// maxTargets and maxFilters bound a policy.
const (
	maxTargets = 16
	maxFilters = 64
	maxName    = 256
)

// Check validates p and fills its defaults (Harbor's rules in
// src/server/v2.0/handler/webhook.go, plus berth's types and filters).
func Check(p *Policy) error {
	p.Name = strings.TrimSpace(p.Name)
	switch {
	case p.Name == "":
		return invalid("name is required")
	case len(p.Name) > maxName:
		return invalid("name is longer than %d characters", maxName)
	case len(p.Targets) == 0:
		return invalid("empty notification target with policy %s", p.Name)
	case len(p.Targets) > maxTargets:
		return invalid("a policy has at most %d targets", maxTargets)
	case len(p.EventTypes) == 0:
		return invalid("empty event type")
	case len(p.RepositoryFilters) > maxFilters || len(p.TagFilters) > maxFilters:
		return invalid("a policy has at most %d filters of each kind", maxFilters)
	}
	for _, t := range p.EventTypes {
		if !slices.Contains(EventTypes, events.Type(t)) {
			return invalid("unsupported event type %s", t)
		}
	}
	for i := range p.Targets {
		if err := checkTarget(&p.Targets[i]); err != nil {
			return err
		}
	}
	for _, f := range slices.Concat(p.RepositoryFilters, p.TagFilters) {
		if f == "" || !doublestar.ValidatePattern(f) {
			return invalid("invalid filter pattern %q", f)
		}
	}
	return nil
}

func checkTarget(t *Target) error {
	var formats []string
	known := false
	for _, n := range NotifyTypes {
		if n.Type == t.Type {
			known, formats = true, n.Formats
		}
	}
	if !known {
		return invalid("unsupported notify type %s", t.Type)
	}
	u, err := url.Parse(t.Address)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return invalid("invalid address %q: an http or https URL is required", t.Address)
	}
	switch {
	case t.PayloadFormat == "" && formats != nil:
		t.PayloadFormat = formats[0]
	case t.PayloadFormat != "" && formats == nil:
		return invalid("payload format is not supported for notify type %s", t.Type)
	case t.PayloadFormat != "" && !slices.Contains(formats, t.PayloadFormat):
		return invalid("unsupported payload format %s for notify type %s", t.PayloadFormat, t.Type)
	}
	return nil
}

// newSecret is a fresh signing secret.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// subscribes reports whether p fires for an event of type t.
func (s *stored) subscribes(t events.Type) bool { return slices.Contains(s.EventTypes, string(t)) }

// matchRepo reports whether repo (within its project) passes the
// repository filters.
func (s *stored) matchRepo(repo string) bool {
	if len(s.RepositoryFilters) == 0 {
		return true
	}
	for _, f := range s.RepositoryFilters {
		if ok, _ := doublestar.Match(f, repo); ok {
			return true
		}
	}
	return false
}

// matchTags returns the tags passing the tag filters, and whether the
// event fires: an event without tags always does.
func (s *stored) matchTags(tags []string) ([]string, bool) {
	if len(s.TagFilters) == 0 || len(tags) == 0 {
		return tags, true
	}
	var out []string
	for _, t := range tags {
		for _, f := range s.TagFilters {
			if ok, _ := doublestar.Match(f, t); ok {
				out = append(out, t)
				break
			}
		}
	}
	return out, len(out) > 0
}

func decodeStored(text string) (*stored, error) {
	var s stored
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, fmt.Errorf("webhook policy: %w", err)
	}
	return &s, nil
}
