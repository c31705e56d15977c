package harborapi

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/repository"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/retention"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// retentionPolicyModel is a one-rule policy as Harbor's UI builds it
// (retention.ts): every repository, tags matching tagPattern (untagged
// artifacts too), the template with its parameter.
func retentionPolicyModel(projectID int64, template string, param int, tagPattern, cron string) *models.RetentionPolicy {
	params := map[string]any{}
	if template != "always" {
		params[template] = param
	}
	return &models.RetentionPolicy{
		Algorithm: "or",
		Scope:     &models.RetentionPolicyScope{Level: "project", Ref: projectID},
		Trigger:   &models.RetentionRuleTrigger{Kind: "Schedule", Settings: map[string]any{"cron": cron}, References: map[string]any{}},
		Rules: []*models.RetentionRule{{
			Action: "retain", Template: template, Params: params,
			TagSelectors: []*models.RetentionSelector{{Kind: "doublestar", Decoration: "matches", Pattern: tagPattern, Extras: `{"untagged":true}`}},
			ScopeSelectors: map[string][]models.RetentionSelector{
				"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}},
			},
		}},
	}
}

// idAfter reads the id at the end of a Location under prefix.
func idAfter(t testing.TB, location, prefix string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(strings.TrimPrefix(location, prefix), 10, 64)
	if !strings.HasPrefix(location, prefix) || err != nil {
		t.Fatalf("Location %q, want %s<id>", location, prefix)
	}
	return id
}

// TestRetention: Harbor's Retention operations through its client, on a
// real berth running the policy: a dry run reports and keeps, the real
// run deletes what the dry run said.
func TestRetention(t *testing.T) {
	c := client(t)
	md := must(c.Retention.GetRentenitionMetadata(ctx(t), retention.NewGetRentenitionMetadataParams()))(t).Payload
	if len(md.Templates) != 5 || md.Templates[0].RuleTemplate != "latestPushedK" || len(md.ScopeSelectors) != 1 ||
		len(md.TagSelectors[0].Decorations) != 2 || md.Templates[0].Params[0].Unit != "COUNT" {
		t.Errorf("metadata: %s", dump(md))
	}

	proj := newProject(t, c)
	yes := true
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	repo := proj + "/team/app"
	pushImage(t, repo, "v1")
	pushImage(t, repo, "v2")
	newest := pushImage(t, repo, "v3")

	created := must(c.Retention.CreateRetention(ctx(t), retention.NewCreateRetentionParams().
		WithPolicy(retentionPolicyModel(int64(p.ProjectID), "latestPushedK", 2, "**", "0 0 3 * * *"))))(t)
	id := idAfter(t, created.Location, "/api/v2.0/retentions/")
	if _, err := c.Retention.CreateRetention(ctx(t), retention.NewCreateRetentionParams().
		WithPolicy(retentionPolicyModel(int64(p.ProjectID), "always", 0, "**", ""))); !isStatus(err, 400) {
		t.Errorf("a second policy for the project: %v, want 400", err)
	}
	dup := retentionPolicyModel(int64(p.ProjectID), "always", 0, "**", "")
	dup.Rules = append(dup.Rules, dup.Rules[0])
	if _, err := c.Retention.CreateRetention(ctx(t), retention.NewCreateRetentionParams().WithPolicy(dup)); !isStatus(err, 409) {
		t.Errorf("two identical rules: %v, want 409", err)
	}
	p = must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if p.Metadata.RetentionID == nil || *p.Metadata.RetentionID != strconv.FormatInt(id, 10) {
		t.Errorf("project metadata: %s", dump(p.Metadata))
	}

	got := must(c.Retention.GetRetention(ctx(t), retention.NewGetRetentionParams().WithID(id)))(t).Payload
	settings, _ := got.Trigger.Settings.(map[string]any)
	if got.ID != id || got.Algorithm != "or" || got.Scope.Ref != int64(p.ProjectID) || len(got.Rules) != 1 ||
		got.Rules[0].Template != "latestPushedK" || settings["cron"] != "0 0 3 * * *" || settings["next_scheduled_time"] == nil {
		t.Errorf("policy: %s", dump(got))
	}
	// The UI's edit: the policy read back, changed, sent again.
	got.Rules[0].Params["latestPushedK"] = 1
	delete(settings, "next_scheduled_time")
	must(c.Retention.UpdateRetention(ctx(t), retention.NewUpdateRetentionParams().WithID(id).WithPolicy(got)))(t)
	if _, err := c.Retention.GetRetention(ctx(t), retention.NewGetRetentionParams().WithID(id+1000)); !isStatus(err, 404) {
		t.Errorf("a missing policy: %v, want 404", err)
	}

	// A dry run: what would go, nothing gone.
	run := func(dryRun bool) (int64, *models.RetentionExecutionTask) {
		t.Helper()
		// Harbor's document has a 200 and a 201 for it: berth answers 201.
		ok, trig, err := c.Retention.TriggerRetentionExecution(ctx(t), retention.NewTriggerRetentionExecutionParams().
			WithID(id).WithBody(retention.TriggerRetentionExecutionBody{DryRun: dryRun}))
		if err != nil || ok != nil || trig == nil {
			t.Fatalf("TriggerRetentionExecution: %v (200 %v)", describe(err), ok)
		}
		eid := idAfter(t, trig.Location, fmt.Sprintf("/api/v2.0/retentions/%d/executions/", id))
		await(t, func() (bool, string) {
			list := must(c.Retention.ListRetentionExecutions(ctx(t), retention.NewListRetentionExecutionsParams().WithID(id)))(t)
			for _, x := range list.Payload {
				if x.ID == eid {
					return x.Status == "Success" && x.DryRun == dryRun && x.Trigger == "MANUAL" && x.PolicyID == id, dump(x)
				}
			}
			return false, fmt.Sprintf("execution %d not listed", eid)
		})
		tasks := must(c.Retention.ListRetentionTasks(ctx(t), retention.NewListRetentionTasksParams().WithID(id).WithEid(eid)))(t)
		if tasks.XTotalCount != 1 || len(tasks.Payload) != 1 || tasks.Payload[0].Repository != "team/app" {
			t.Fatalf("tasks: %s", dump(tasks.Payload))
		}
		return eid, tasks.Payload[0]
	}
	eid, task := run(true)
	if task.Total != 3 || task.Retained != 1 || task.Status != "Success" || task.StatusCode != 3 {
		t.Errorf("dry run task: %s", dump(task))
	}
	log := must(c.Retention.GetRetentionTaskLog(ctx(t), retention.NewGetRetentionTaskLogParams().WithID(id).WithEid(eid).WithTid(task.ID)))(t).Payload
	if !strings.Contains(log, "| Retention |") || strings.Count(log, "| DEL       |") != 2 || !strings.Contains(log, "Dry Run: true") {
		t.Errorf("dry run log:\n%s", log)
	}
	arts := must(c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().WithProjectName(proj).WithRepositoryName("team%2Fapp")))(t).Payload
	if arts.ArtifactCount != 3 {
		t.Errorf("after the dry run: %d artifacts", arts.ArtifactCount)
	}

	// The real run deletes the two older ones.
	eid, task = run(false)
	if task.Total != 3 || task.Retained != 1 {
		t.Errorf("real run task: %s", dump(task))
	}
	arts = must(c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().WithProjectName(proj).WithRepositoryName("team%2Fapp")))(t).Payload
	if arts.ArtifactCount != 1 {
		t.Errorf("after the real run: %d artifacts (kept %s)", arts.ArtifactCount, newest)
	}
	// Stopping a finished run is accepted and changes nothing.
	must(c.Retention.OperateRetentionExecution(ctx(t), retention.NewOperateRetentionExecutionParams().
		WithID(id).WithEid(eid).WithBody(retention.OperateRetentionExecutionBody{Action: "stop"})))(t)
	if _, err := c.Retention.OperateRetentionExecution(ctx(t), retention.NewOperateRetentionExecutionParams().
		WithID(id).WithEid(eid).WithBody(retention.OperateRetentionExecutionBody{Action: "pause"})); !isStatus(err, 400) {
		t.Errorf("action pause: %v, want 400", err)
	}

	must(c.Retention.DeleteRetention(ctx(t), retention.NewDeleteRetentionParams().WithID(id)))(t)
	if _, err := c.Retention.GetRetention(ctx(t), retention.NewGetRetentionParams().WithID(id)); !isStatus(err, 404) {
		t.Errorf("a deleted policy: %v, want 404", err)
	}
	p = must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if p.Metadata.RetentionID != nil && *p.Metadata.RetentionID != "" {
		t.Errorf("retention_id after the delete: %q", *p.Metadata.RetentionID)
	}
}
