package harborapi

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/swag"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/purge"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestPurgeAudit: Harbor's audit log purge through its client: a manual
// run (as Harbor's UI sends it) is listed with its parameters and log,
// a schedule is set, shown and removed, and a stop is answered.
func TestPurgeAudit(t *testing.T) {
	c := client(t)
	params := map[string]any{"audit_retention_hour": 240, "include_event_types": "create_artifact,delete_artifact,pull_artifact", "dry_run": true}

	created := must(c.Purge.CreatePurgeSchedule(ctx(t), purge.NewCreatePurgeScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Manual"}, Parameters: params})))(t)
	id, err := strconv.ParseInt(created.Location[strings.LastIndexByte(created.Location, '/')+1:], 10, 64)
	if err != nil || !strings.HasSuffix(created.Location, "/api/v2.0/system/purgeaudit/"+strconv.FormatInt(id, 10)) {
		t.Fatalf("createPurgeSchedule Location = %q", created.Location)
	}
	var job *models.ExecHistory
	await(t, func() (bool, string) {
		job = must(c.Purge.GetPurgeJob(ctx(t), purge.NewGetPurgeJobParams().WithPurgeID(id)))(t).Payload
		return job.JobStatus == "Success", "purge job " + dump(job)
	})
	var got map[string]any
	if err := json.Unmarshal([]byte(job.JobParameters), &got); err != nil || got["audit_retention_hour"] != float64(240) || got["dry_run"] != true ||
		got["include_event_types"] != params["include_event_types"] || job.JobName != "PURGE_AUDIT_LOG" || job.JobKind != "MANUAL" ||
		job.Schedule == nil || job.Schedule.Type != "Manual" || time.Time(job.CreationTime).IsZero() {
		t.Fatalf("getPurgeJob = %s", dump(job))
	}
	log := must(c.Purge.GetPurgeJobLog(ctx(t), purge.NewGetPurgeJobLogParams().WithPurgeID(id)))(t).Payload
	if !strings.Contains(log, "[DRYRUN]") || !strings.Contains(log, "would be purged") {
		t.Fatalf("getPurgeJobLog = %q", log)
	}
	history := must(c.Purge.GetPurgeHistory(ctx(t), purge.NewGetPurgeHistoryParams().WithPage(swag.Int64(1)).WithPageSize(swag.Int64(10)).
		WithQ(swag.String("status=Success")).WithSort(swag.String("-creation_time"))))(t)
	if history.XTotalCount < 1 || len(history.Payload) < 1 || history.Payload[0].ID != id {
		t.Fatalf("getPurgeHistory = %d %s", history.XTotalCount, dump(history.Payload))
	}
	// Stopping a finished run is answered and changes nothing, as in Harbor.
	must(c.Purge.StopPurge(ctx(t), purge.NewStopPurgeParams().WithPurgeID(id)))(t)
	if _, err := c.Purge.GetPurgeJob(ctx(t), purge.NewGetPurgeJobParams().WithPurgeID(id+1000)); !isStatus(err, 404) {
		t.Fatalf("getPurgeJob of a missing run = %v, want 404", err)
	}

	// No schedule: an empty answer, which the client decodes as empty.
	none := must(c.Purge.GetPurgeSchedule(ctx(t), purge.NewGetPurgeScheduleParams()))(t).Payload
	if none == nil || none.Schedule != nil || none.JobParameters != "" {
		t.Fatalf("getPurgeSchedule without one = %s", dump(none))
	}
	params["dry_run"] = false
	must(c.Purge.UpdatePurgeSchedule(ctx(t), purge.NewUpdatePurgeScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Custom", Cron: "0 30 4 * * *"}, Parameters: params})))(t)
	sch := must(c.Purge.GetPurgeSchedule(ctx(t), purge.NewGetPurgeScheduleParams()))(t).Payload
	next := time.Time(sch.Schedule.NextScheduledTime)
	if sch.Schedule == nil || sch.Schedule.Type != "Custom" || sch.Schedule.Cron != "0 30 4 * * *" || sch.JobKind != "0 30 4 * * *" ||
		!next.After(time.Now()) || next.UTC().Format("15:04:05") != "04:30:00" || !strings.Contains(sch.JobParameters, `"dry_run":false`) {
		t.Fatalf("getPurgeSchedule = %s", dump(sch))
	}
	if _, err := c.Purge.UpdatePurgeSchedule(ctx(t), purge.NewUpdatePurgeScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Custom", Cron: "* * * * * *"}, Parameters: params})); !isStatus(err, 400) {
		t.Fatalf("updatePurgeSchedule with seconds = %v, want 400", err)
	}
	must(c.Purge.CreatePurgeSchedule(ctx(t), purge.NewCreatePurgeScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Weekly"}, Parameters: params})))(t)
	if sch := must(c.Purge.GetPurgeSchedule(ctx(t), purge.NewGetPurgeScheduleParams()))(t).Payload; sch.Schedule.Cron != "0 0 0 * * 0" {
		t.Fatalf("weekly schedule = %s", dump(sch))
	}
	must(c.Purge.UpdatePurgeSchedule(ctx(t), purge.NewUpdatePurgeScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "None"}})))(t)
	if sch := must(c.Purge.GetPurgeSchedule(ctx(t), purge.NewGetPurgeScheduleParams()))(t).Payload; sch.Schedule != nil {
		t.Fatalf("after None: %s", dump(sch))
	}
}
