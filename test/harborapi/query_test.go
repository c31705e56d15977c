package harborapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/retention"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/webhook"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

	"github.com/berth-registry/berth/internal/api"
)

// TestEveryListQuery goes through every list berth's OpenAPI document
// declares with Harbor's q or sort parameter and asks it, as the
// administrator, for: an unknown q key where q is declared (400 naming
// the key, never the whole list), an unknown sort key where sort is
// declared (400 naming it), and
// page=0&page_size=0 (Harbor's "no paging", what harbor-cli sends: 200).
// A list whose path needs an id of a job execution is left to the tests
// of its area, named in needsExecution, so that a new list fails here
// until it gets its fixture or its name there.
func TestEveryListQuery(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	pushImage(t, proj+"/app", "v1")
	yes := true
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	must(c.Webhook.CreateWebhookPolicyOfProject(ctx(t), webhook.NewCreateWebhookPolicyOfProjectParams().WithProjectNameOrID(proj).
		WithPolicy(&models.WebhookPolicy{Name: "q", Enabled: true, EventTypes: []string{"PUSH_ARTIFACT"},
			Targets: []*models.WebhookTargetObject{{Type: "http", Address: "http://127.0.0.1:9/hook", PayloadFormat: "Default"}}})))(t)
	policies := must(c.Webhook.ListWebhookPoliciesOfProject(ctx(t), webhook.NewListWebhookPoliciesOfProjectParams().WithProjectNameOrID(proj)))(t).Payload
	created := must(c.Retention.CreateRetention(ctx(t), retention.NewCreateRetentionParams().
		WithPolicy(retentionPolicyModel(int64(p.ProjectID), "latestPushedK", 2, "**", ""))))(t)
	fixture := map[string]string{
		"project_name": proj, "project_name_or_id": proj, "repository_name": "app", "reference": "v1",
		"webhook_policy_id": strconv.FormatInt(policies[0].ID, 10),
		"id":                strconv.FormatInt(idAfter(t, created.Location, "/api/v2.0/retentions/"), 10),
	}
	extra := map[string]string{ // required query parameters
		"/projects/{project_name_or_id}/webhook/jobs": "policy_id=" + fixture["webhook_policy_id"],
		"/labels": "scope=g",
	}
	needsExecution := []string{
		"/replication/executions/{id}/tasks",      // replication_test.go
		"/retentions/{id}/executions/{eid}/tasks", // retention_test.go
		"/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks", // webhook_test.go
	}

	var doc struct {
		Paths map[string]struct {
			Get *struct {
				Parameters []struct {
					Ref  string `json:"$ref"`
					Name string `json:"name"`
				} `json:"parameters"`
			} `json:"get"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	lists := 0
	for path, item := range doc.Paths {
		op := item.Get
		if op == nil || path == "/search" { // search's q is the text searched for
			continue
		}
		var hasQ, hasSort bool
		for _, prm := range op.Parameters {
			hasQ = hasQ || prm.Ref == "#/components/parameters/q" || prm.Name == "q"
			hasSort = hasSort || prm.Ref == "#/components/parameters/sort" || prm.Name == "sort"
		}
		if !hasQ && !hasSort { // (Harbor's listQuotas has sort and no q)
			continue
		}
		if slices.Contains(needsExecution, path) {
			continue
		}
		lists++
		u := path
		for name, v := range fixture {
			u = strings.ReplaceAll(u, "{"+name+"}", url.PathEscape(v))
		}
		if strings.Contains(u, "{") {
			t.Errorf("%s: no fixture for its path parameters", path)
			continue
		}
		base := server(t).URL + "/api/v2.0" + u + "?"
		if x := extra[path]; x != "" {
			base += x + "&"
		}
		if code, body := rawGet(t, base+"q="+url.QueryEscape("nosuchkey=1")); hasQ && (code != 400 || !strings.Contains(body, "q: ") || !strings.Contains(body, "nosuchkey")) {
			t.Errorf("GET %s?q=nosuchkey=1: %d %s, want 400 naming q and the key", path, code, body)
		}
		if hasSort {
			if code, body := rawGet(t, base+"sort=-nosuchkey"); code != 400 || !strings.Contains(body, "sort: ") || !strings.Contains(body, "nosuchkey") {
				t.Errorf("GET %s?sort=-nosuchkey: %d %s, want 400 naming sort and the key", path, code, body)
			}
		}
		if code, body := rawGet(t, base+"page=0&page_size=0"); code != 200 {
			t.Errorf("GET %s?page=0&page_size=0: %d %s", path, code, body)
		}
	}
	t.Logf("%d lists with q or sort checked (%d left to their area's tests)", lists, len(needsExecution))
	if lists < 25 {
		t.Errorf("only %d lists with q or sort in the OpenAPI document", lists)
	}
}

// rawGet is a GET as the administrator outside the go-client (which would
// not show the body of an error it has no model for).
func rawGet(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	resp, err := (&http.Client{Transport: loopback}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}
