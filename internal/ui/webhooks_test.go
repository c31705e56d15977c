package ui_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// TestWebhookForms: the Webhooks tab creates an http and a slack policy
// (the payload format goes to http targets only), disables one, keeping
// its auth header, and deletes it.
func TestWebhookForms(t *testing.T) {
	e := newEnv(t) // its API has the webhook service, as the application wires it
	e.project("hooks", false, nil)
	b := e.browser("admin")
	for _, f := range []url.Values{
		{"name": {"ci"}, "notify_type": {"http"}, "payload_format": {"CloudEvents"}, "address": {"https://ci.example/hook"},
			"auth_header": {"Bearer s3cr3t"}, "event_type": {"PUSH_ARTIFACT", "DELETE_ARTIFACT"}},
		{"name": {"chat"}, "notify_type": {"slack"}, "payload_format": {"Default"}, "address": {"https://hooks.slack.example/x"},
			"event_type": {"PUSH_ARTIFACT"}},
	} {
		if resp, body := b.submit("/projects/hooks/webhooks", "/projects/hooks/webhooks", f); resp.StatusCode != http.StatusSeeOther ||
			!strings.Contains(resp.Header.Get("Set-Cookie"), "Webhook+created") {
			t.Fatalf("create %s: %d %v %s", f.Get("name"), resp.StatusCode, resp.Header, body)
		}
	}
	_, page := b.get("/projects/hooks/webhooks")
	for _, want := range []string{"http: https://ci.example/hook", "slack: https://hooks.slack.example/x", "DELETE_ARTIFACT"} {
		if !strings.Contains(page, want) {
			t.Errorf("the tab lacks %q", want)
		}
	}
	p, err := e.store.GetProjectByName(e.ctx, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := e.store.WebhookPolicies(e.ctx, p.ID, meta.ListQuery{})
	if err != nil || len(rows) != 2 {
		t.Fatal(rows, err)
	}
	ci := rows[0]
	if resp, _ := b.submit("/projects/hooks/webhooks", "/projects/hooks/webhooks/"+strconv.FormatInt(ci.ID, 10), url.Values{"action": {"toggle"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("toggle: %d", resp.StatusCode)
	}
	got, err := e.store.WebhookPolicy(e.ctx, ci.ID)
	if err != nil || got.Enabled || !strings.Contains(got.Policy, `"auth_header":"enc:`) {
		t.Errorf("after the toggle: %+v %v", got, err)
	}
	resp, _ := b.submit("/projects/hooks/webhooks", "/projects/hooks/webhooks/"+strconv.FormatInt(ci.ID, 10), url.Values{"action": {"test"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "Test+event+sent") {
		t.Fatalf("test: %d %v", resp.StatusCode, resp.Header)
	}
	if _, page := b.get(resp.Header.Get("Location")); !strings.Contains(page, "PUSH_ARTIFACT</td><td>Pending") {
		t.Errorf("the test delivery is not listed: %s", mainOf(page))
	}
	if resp, _ := b.submit("/projects/hooks/webhooks", "/projects/hooks/webhooks/"+strconv.FormatInt(ci.ID, 10), url.Values{"action": {"delete"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, err := e.store.WebhookPolicy(e.ctx, ci.ID); err == nil {
		t.Error("the policy is still there")
	}
}
