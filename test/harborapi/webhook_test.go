package harborapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/webhook"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/webhookjob"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestWebhook: Harbor's webhook operations through its client, on a real
// berth delivering a push to a receiver in this process.
func TestWebhook(t *testing.T) {
	c := client(t)
	var mu sync.Mutex
	var got []http.Header
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r.Header.Clone()), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()

	proj := newProject(t, c)
	events := must(c.Webhook.GetSupportedEventTypes(ctx(t), webhook.NewGetSupportedEventTypesParams().WithProjectNameOrID(proj)))(t).Payload
	if len(events.EventType) != 10 || !slices.Contains(events.NotifyType, "slack") || !slices.Contains(events.NotifyType, "dingtalk") ||
		len(events.PayloadFormats) == 0 || events.PayloadFormats[0].NotifyType != "http" {
		t.Errorf("supported event types: %s", dump(events))
	}

	policy := &models.WebhookPolicy{Name: "ci", Description: "to CI", Enabled: true, EventTypes: []string{"PUSH_ARTIFACT", "DELETE_ARTIFACT"},
		Targets: []*models.WebhookTargetObject{{Type: "http", Address: rcv.URL + "/hook", AuthHeader: "Bearer s3cr3t", PayloadFormat: "CloudEvents"}}}
	created := must(c.Webhook.CreateWebhookPolicyOfProject(ctx(t), webhook.NewCreateWebhookPolicyOfProjectParams().
		WithProjectNameOrID(proj).WithPolicy(policy)))(t)
	if _, err := c.Webhook.CreateWebhookPolicyOfProject(ctx(t), webhook.NewCreateWebhookPolicyOfProjectParams().
		WithProjectNameOrID(proj).WithPolicy(policy)); !isStatus(err, 409) {
		t.Errorf("a second policy of the same name: %v, want 409", err)
	}
	list := must(c.Webhook.ListWebhookPoliciesOfProject(ctx(t), webhook.NewListWebhookPoliciesOfProjectParams().WithProjectNameOrID(proj)))(t)
	if list.XTotalCount != 1 || len(list.Payload) != 1 || list.Payload[0].Name != "ci" || list.Payload[0].Targets[0].AuthHeader != "*****" {
		t.Fatalf("policies: %s", dump(list.Payload))
	}
	id := list.Payload[0].ID
	if !strings.HasSuffix(created.Location, "/webhook/policies/"+strconv.FormatInt(id, 10)) {
		t.Errorf("Location %q", created.Location)
	}
	pp := func() *webhook.GetWebhookPolicyOfProjectParams {
		return webhook.NewGetWebhookPolicyOfProjectParams().WithProjectNameOrID(proj).WithWebhookPolicyID(id)
	}
	p := must(c.Webhook.GetWebhookPolicyOfProject(ctx(t), pp()))(t).Payload
	if p.Creator != "admin" || p.Targets[0].PayloadFormat != "CloudEvents" || !p.Enabled {
		t.Errorf("policy: %s", dump(p))
	}
	p.Description = "to CI, updated"
	must(c.Webhook.UpdateWebhookPolicyOfProject(ctx(t), webhook.NewUpdateWebhookPolicyOfProjectParams().
		WithProjectNameOrID(proj).WithWebhookPolicyID(id).WithPolicy(p)))(t)

	pushImage(t, proj+"/app", "v1")
	await(t, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1, dump(len(got))
	})
	mu.Lock()
	h, body := got[0], bodies[0]
	mu.Unlock()
	var ce map[string]any
	if err := json.Unmarshal(body, &ce); err != nil || ce["type"] != "harbor.artifact.pushed" ||
		h.Get("Authorization") != "Bearer s3cr3t" || !strings.HasPrefix(h.Get("X-Berth-Signature"), "sha256=") {
		t.Errorf("delivery %v: %s", h, body)
	}

	execs := must(c.Webhook.ListExecutionsOfWebhookPolicy(ctx(t), webhook.NewListExecutionsOfWebhookPolicyParams().
		WithProjectNameOrID(proj).WithWebhookPolicyID(id)))(t)
	if len(execs.Payload) != 1 || execs.Payload[0].VendorType != "WEBHOOK" || execs.Payload[0].VendorID != id {
		t.Fatalf("executions: %s", dump(execs.Payload))
	}
	eid := execs.Payload[0].ID
	var tid int64
	await(t, func() (bool, string) {
		tasks := must(c.Webhook.ListTasksOfWebhookExecution(ctx(t), webhook.NewListTasksOfWebhookExecutionParams().
			WithProjectNameOrID(proj).WithWebhookPolicyID(id).WithExecutionID(eid)))(t).Payload
		if len(tasks) != 1 {
			return false, dump(tasks)
		}
		tid = tasks[0].ID
		return tasks[0].Status == "Success" && tasks[0].RunCount == 1, dump(tasks)
	})
	log := must(c.Webhook.GetLogsOfWebhookTask(ctx(t), webhook.NewGetLogsOfWebhookTaskParams().
		WithProjectNameOrID(proj).WithWebhookPolicyID(id).WithExecutionID(eid).WithTaskID(tid)))(t).Payload
	if !strings.Contains(log, "harbor.artifact.pushed") || !strings.Contains(log, "-> 200") || strings.Contains(log, "s3cr3t") {
		t.Errorf("task log: %s", log)
	}
	last := must(c.Webhook.LastTrigger(ctx(t), webhook.NewLastTriggerParams().WithProjectNameOrID(proj)))(t).Payload
	if len(last) != 2 || last[0].PolicyName != "ci" || last[0].EventType != "PUSH_ARTIFACT" || last[0].LastTriggerTime.String() == "" {
		t.Errorf("last trigger: %s", dump(last))
	}
	jobs := must(c.Webhookjob.ListWebhookJobs(ctx(t), webhookjob.NewListWebhookJobsParams().WithProjectNameOrID(proj).
		WithPolicyID(id).WithStatus([]string{"Success", "Error"})))(t)
	if jobs.XTotalCount != 1 || len(jobs.Payload) != 1 || jobs.Payload[0].ID != tid || jobs.Payload[0].NotifyType != "http" ||
		jobs.Payload[0].EventType != "PUSH_ARTIFACT" || !strings.Contains(jobs.Payload[0].JobDetail, `"repo_full_name":"`+proj+`/app"`) {
		t.Errorf("webhook jobs: %s", dump(jobs.Payload))
	}
	must(c.Webhook.DeleteWebhookPolicyOfProject(ctx(t), webhook.NewDeleteWebhookPolicyOfProjectParams().
		WithProjectNameOrID(proj).WithWebhookPolicyID(id)))(t)
	if _, err := c.Webhook.GetWebhookPolicyOfProject(ctx(t), pp()); !isStatus(err, 404) {
		t.Errorf("a deleted policy: %v, want 404", err)
	}
}
