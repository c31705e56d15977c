package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

	"github.com/berth-registry/berth/internal/meta"
)

// roundTrip marshals v and decodes it into T, as Harbor's Go client
// does, failing on a shape error.
func roundTrip[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding %s as %T: %v", b, out, err)
	}
	return out
}

// TestJobShapes: the shared job shapes decode into the go-client's
// models with every field where Harbor puts it.
func TestJobShapes(t *testing.T) {
	created := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	e := &meta.Execution{ID: 7, Kind: "retention", VendorID: 12, Trigger: meta.TriggerSchedule, Status: meta.JobError,
		StatusMessage: "boom", Params: `{"dry_run":true}`, CreatedAt: created, StartedAt: created.Add(time.Second),
		EndedAt: created.Add(time.Minute), UpdatedAt: created.Add(time.Minute)}
	x := roundTrip[models.Execution](t, executionOf(e, "RETENTION", &execMetrics{TaskCount: 3, SuccessTaskCount: 2, ErrorTaskCount: 1}))
	if x.ID != 7 || x.VendorType != "RETENTION" || x.VendorID != 12 || x.Status != "Error" || x.StatusMessage != "boom" ||
		x.Trigger != "SCHEDULE" || x.ExtraAttrs["dry_run"] != true || x.StartTime != "2026-05-01T03:00:01.000Z" ||
		x.EndTime != "2026-05-01T03:01:00.000Z" || x.Metrics == nil || x.Metrics.TaskCount != 3 || x.Metrics.ErrorTaskCount != 1 {
		t.Fatalf("Execution = %+v", x)
	}
	pending := roundTrip[models.Execution](t, executionOf(&meta.Execution{ID: 8, CreatedAt: created, Status: meta.JobPending}, "GC", nil))
	if pending.StartTime != "2026-05-01T03:00:00.000Z" || pending.EndTime != "" || pending.Metrics != nil || pending.ExtraAttrs == nil {
		t.Fatalf("pending Execution = %+v", pending)
	}

	tk := &meta.Task{ID: 9, ExecutionID: 7, Status: meta.JobSuccess, RunCount: 1, ExtraAttrs: `{"repository":"p/r","retained":2}`,
		CreatedAt: created, UpdatedAt: created.Add(time.Minute), StartedAt: created, EndedAt: created.Add(time.Minute)}
	mt := roundTrip[models.Task](t, taskOf(tk))
	if mt.ID != 9 || mt.ExecutionID != 7 || mt.Status != "Success" || mt.RunCount != 1 || mt.ExtraAttrs["repository"] != "p/r" ||
		mt.CreationTime != "2026-05-01T03:00:00.000Z" || mt.EndTime != "2026-05-01T03:01:00.000Z" {
		t.Fatalf("Task = %+v", mt)
	}

	h := roundTrip[models.ExecHistory](t, execHistoryOf(e, "PURGE_AUDIT_LOG"))
	if h.ID != 7 || h.JobName != "PURGE_AUDIT_LOG" || h.JobKind != "SCHEDULE" || h.JobParameters != `{"dry_run":true}` ||
		h.JobStatus != "Error" || h.Schedule == nil || h.Schedule.Type != "Schedule" || time.Time(h.CreationTime) != created {
		t.Fatalf("ExecHistory = %+v", h)
	}
	if err := h.Validate(strfmt.Default); err != nil {
		t.Fatal(err)
	}
	gc := roundTrip[models.GCHistory](t, execHistoryOf(&meta.Execution{ID: 1, Trigger: meta.TriggerManual, CreatedAt: created}, "GARBAGE_COLLECTION"))
	if gc.JobParameters != "{}" || gc.Schedule.Type != "Manual" {
		t.Fatalf("GCHistory = %+v", gc)
	}
	s := roundTrip[models.ExecHistory](t, scheduleHistoryOf(&meta.JobSchedule{Type: "Custom", Cron: "0 0 3 * * *", Params: `{"a":1}`,
		NextRun: created.Add(24 * time.Hour), CreatedAt: created, UpdatedAt: created}))
	if s.JobKind != "0 0 3 * * *" || s.Schedule.Cron != "0 0 3 * * *" || s.Schedule.Type != "Custom" ||
		time.Time(s.Schedule.NextScheduledTime) != created.Add(24*time.Hour) || s.JobParameters != `{"a":1}` {
		t.Fatalf("schedule ExecHistory = %+v", s)
	}
	// A Schedule body as the client sends it.
	body := roundTrip[scheduleBody](t, &models.Schedule{Schedule: &models.ScheduleObj{Type: "Custom", Cron: "0 0 3 * * *"},
		Parameters: map[string]any{"audit_retention_hour": 24}})
	if body.Schedule.Type != "Custom" || body.Schedule.Cron != "0 0 3 * * *" || body.Parameters["audit_retention_hour"] != float64(24) {
		t.Fatalf("Schedule body = %+v", body)
	}
}
