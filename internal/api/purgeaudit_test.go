package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// purgeEnv is an env whose queue runs the real purge job.
func purgeEnv(t *testing.T) (*env, *jobs.Queue) {
	e := newEnv(t)
	q := e.withJobs(func(q *jobs.Queue) {
		q.Register(audit.PurgeKind, audit.Purge(e.store), jobs.Exclusive())
	})
	return e, q
}

// oldAudit adds records ten days old: 3 pulls, 2 pushes, 1 login.
func (e *env) oldAudit() {
	e.t.Helper()
	at := time.Now().Add(-240 * time.Hour)
	var recs []meta.AuditRecord
	for i, op := range []string{"pull", "pull", "pull", "push", "push"} {
		recs = append(recs, meta.AuditRecord{At: at, Username: "u", Operation: op, ResourceType: "artifact",
			Resource: fmt.Sprintf("p/r:%s%d", op, i), Success: true})
	}
	recs = append(recs, meta.AuditRecord{At: at, Username: "u", Operation: "login", ResourceType: "user", Resource: "u", Success: true},
		meta.AuditRecord{At: time.Now(), Username: "u", Operation: "pull", ResourceType: "artifact", Resource: "p/r:recent", Success: true})
	if err := e.store.AppendAudit(e.ctx, recs); err != nil {
		e.t.Fatal(err)
	}
}

// auditResources lists the resources of the audit records of type
// operation_resourceType.
func (e *env) auditResources(operation, resourceType string) []string {
	e.t.Helper()
	list, _, err := e.store.ListAudit(e.ctx, meta.AuditQuery{ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 1000}}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range list {
		if r.Operation == operation && r.ResourceType == resourceType {
			out = append(out, r.Resource)
		}
	}
	slices.Sort(out)
	return out
}

// startPurge runs a purge now and returns its execution id.
func (e *env) startPurge(params map[string]any) int64 {
	e.t.Helper()
	resp, body := e.req(e.admin, "POST", Prefix+"/system/purgeaudit/schedule", map[string]any{
		"schedule": map[string]any{"type": "Manual"}, "parameters": params})
	if resp.StatusCode != 201 {
		e.t.Fatalf("manual purge: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, Prefix+"/system/purgeaudit/"), 10, 64)
	if err != nil {
		e.t.Fatalf("Location %q", loc)
	}
	return id
}

func TestPurgeAuditManual(t *testing.T) {
	e, _ := purgeEnv(t)
	e.oldAudit()
	params := map[string]any{"audit_retention_hour": 24, "include_event_types": "create_artifact,pull_artifact", "dry_run": true}

	// A dry run counts and deletes nothing.
	id := e.startPurge(params)
	e.waitExecution(id, meta.JobSuccess)
	h := decode[execHistory](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, id), nil))
	if h.ID != id || h.JobName != "PURGE_AUDIT_LOG" || h.JobKind != "MANUAL" || h.JobStatus != "Success" || h.Schedule == nil ||
		h.Schedule.Type != "Manual" || h.JobParameters != `{"audit_retention_hour":24,"dry_run":true,"include_event_types":"create_artifact,pull_artifact"}` {
		t.Fatalf("dry run history = %+v", h)
	}
	log := e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/purgeaudit/%d/log", Prefix, id), nil)
	if !strings.Contains(log, "[DRYRUN] 5 audit log records would be purged") {
		t.Fatalf("dry run log = %q", log)
	}
	if got := e.auditResources("pull", "artifact"); len(got) != 4 {
		t.Fatalf("a dry run deleted records: %v", got)
	}

	// The real run: old pulls and pushes go; the login and the recent pull stay.
	params["dry_run"] = false
	id2 := e.startPurge(params)
	e.waitExecution(id2, meta.JobSuccess)
	if got := e.auditResources("pull", "artifact"); !slices.Equal(got, []string{"p/r:recent"}) {
		t.Fatalf("pulls after the purge: %v", got)
	}
	if got := e.auditResources("push", "artifact"); len(got) != 0 {
		t.Fatalf("pushes after the purge: %v", got)
	}
	if got := e.auditResources("login", "user"); len(got) != 1 {
		t.Fatalf("logins after the purge: %v", got)
	}
	resp, body := e.req(e.admin, "GET", fmt.Sprintf("%s/system/purgeaudit/%d/log", Prefix, id2), nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(body, "purged 5 audit log records") {
		t.Fatalf("log: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if x, _ := e.store.GetExecution(e.ctx, id2); x.Result != `{"purged":5}` {
		t.Fatalf("result = %q", x.Result)
	}
	// Legacy include_operations (Harbor before 2.13) and "other".
	id3 := e.startPurge(map[string]any{"audit_retention_hour": 24, "include_operations": "create,delete,pull"})
	e.waitExecution(id3, meta.JobSuccess)
	id4 := e.startPurge(map[string]any{"audit_retention_hour": 24, "include_event_types": "other"})
	e.waitExecution(id4, meta.JobSuccess)
	if got := e.auditResources("login", "user"); len(got) != 0 {
		t.Fatalf("logins after purging other: %v", got)
	}
	// Retention 0: Harbor's job quits and purges nothing.
	id5 := e.startPurge(map[string]any{"audit_retention_hour": 0, "include_event_types": "pull_artifact"})
	e.waitExecution(id5, meta.JobSuccess)

	// History: newest first, paged, filtered.
	resp, body = e.req(e.admin, "GET", Prefix+"/system/purgeaudit?page=1&page_size=2", nil)
	list := decode[[]execHistory](t, body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "5" || len(list) != 2 || list[0].ID != id5 || list[1].ID != id4 {
		t.Fatalf("history: %d total %s %+v", resp.StatusCode, resp.Header.Get("X-Total-Count"), list)
	}
	if !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Fatalf("Link = %q", resp.Header.Get("Link"))
	}
	list = decode[[]execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/purgeaudit?q=status%3DSuccess&sort=id", nil))
	if len(list) != 5 || list[0].ID != id {
		t.Fatalf("sorted by id: %+v", list)
	}
	e.expect(400, e.admin, "GET", Prefix+"/system/purgeaudit?q=nope%3D1", nil)

	// The runs are in the audit log.
	if got := e.auditResources("create", "purge_audit"); len(got) != 5 {
		t.Fatalf("audit records of the runs: %v", got)
	}
}

func TestPurgeAuditErrors(t *testing.T) {
	e, _ := purgeEnv(t)
	alice := e.user("alice", false)
	good := map[string]any{"audit_retention_hour": 24, "include_event_types": "pull_artifact"}
	body := map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": good}
	id := e.startPurge(good)
	e.waitExecution(id, meta.JobSuccess)
	job := fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, id)
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"GET", Prefix + "/system/purgeaudit", nil},
		{"GET", job, nil},
		{"PUT", job, nil},
		{"GET", job + "/log", nil},
		{"GET", Prefix + "/system/purgeaudit/schedule", nil},
		{"POST", Prefix + "/system/purgeaudit/schedule", body},
		{"PUT", Prefix + "/system/purgeaudit/schedule", body},
	} {
		e.expect(403, alice, op.method, op.path, op.body)
		e.expect(401, cred{}, op.method, op.path, op.body)
	}
	for _, path := range []string{"/system/purgeaudit/999", "/system/purgeaudit/999/log"} {
		e.expect(404, e.admin, "GET", Prefix+path, nil)
	}
	e.expect(404, e.admin, "PUT", Prefix+"/system/purgeaudit/999", nil)
	e.expect(400, e.admin, "GET", Prefix+"/system/purgeaudit/abc", nil)
	// An execution of another job is not a purge.
	other := &meta.Execution{Kind: "gc", Trigger: meta.TriggerManual}
	if err := e.store.Enqueue(e.ctx, other, false); err != nil {
		t.Fatal(err)
	}
	e.expect(404, e.admin, "GET", fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, other.ID), nil)

	for name, b := range map[string]any{
		"no schedule":        map[string]any{"parameters": good},
		"no parameters":      map[string]any{"schedule": map[string]any{"type": "Manual"}},
		"no retention":       map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"include_event_types": "pull_artifact"}},
		"retention a string": map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"audit_retention_hour": "24", "include_event_types": "pull_artifact"}},
		"retention too big":  map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"audit_retention_hour": 240001, "include_event_types": "pull_artifact"}},
		"retention negative": map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"audit_retention_hour": -5, "include_event_types": "pull_artifact"}},
		"no event types":     map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"audit_retention_hour": 24}},
		"unknown event type": map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"audit_retention_hour": 24, "include_event_types": "pull_artifact,eat_cake"}},
		"unknown operation":  map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"audit_retention_hour": 24, "include_operations": "push"}},
		"dry_run a string":   map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": map[string]any{"audit_retention_hour": 24, "include_event_types": "pull_artifact", "dry_run": "yes"}},
		"bad cron":           map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "* * * * * *"}, "parameters": good},
		"five-field cron":    map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "0 3 * * *"}, "parameters": good},
		"unknown type":       map[string]any{"schedule": map[string]any{"type": "Sometimes"}, "parameters": good},
	} {
		for _, method := range []string{"POST", "PUT"} {
			if resp, b := e.req(e.admin, method, Prefix+"/system/purgeaudit/schedule", b); resp.StatusCode != 400 || !strings.Contains(b, `"BAD_REQUEST"`) {
				t.Errorf("%s: %s answered %d %s, want 400", name, method, resp.StatusCode, b)
			}
		}
	}
	e.expect(400, e.admin, "POST", Prefix+"/system/purgeaudit/schedule", "not json")
}

// TestPurgeAuditStop: a running purge is stopped on request; another
// cannot start while one is active (berth runs one at a time).
func TestPurgeAuditStop(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	e.withJobs(func(q *jobs.Queue) {
		// A purge that waits for its stop, to have one running.
		q.Register(audit.PurgeKind, func(ctx context.Context, run *jobs.Run) error {
			run.Log("waiting")
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}, jobs.Exclusive())
	})
	params := map[string]any{"audit_retention_hour": 24, "include_event_types": "pull_artifact"}
	id := e.startPurge(params)
	<-started
	e.waitExecution(id, meta.JobRunning)
	if h := decode[execHistory](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, id), nil)); h.JobStatus != "Running" {
		t.Fatalf("status %s, want Running", h.JobStatus)
	}
	for _, method := range []string{"POST", "PUT"} {
		b := e.expect(409, e.admin, method, Prefix+"/system/purgeaudit/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": params})
		if !strings.Contains(b, `"CONFLICT"`) {
			t.Fatalf("409 body %s", b)
		}
	}
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, id), nil)
	e.waitExecution(id, meta.JobStopped)
	if log := e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/purgeaudit/%d/log", Prefix, id), nil); !strings.Contains(log, "waiting") || !strings.Contains(log, "stopped on request") {
		t.Fatalf("log = %q", log)
	}
	// Stopping a finished one changes nothing.
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, id), nil)
	if h := decode[execHistory](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, id), nil)); h.JobStatus != "Stopped" {
		t.Fatalf("status %s, want Stopped", h.JobStatus)
	}
	if got := e.auditResources("stop", "purge_audit"); len(got) != 2 {
		t.Fatalf("stop records: %v", got)
	}
	// Once it has ended, another may start.
	e.startPurge(params)
}

func TestPurgeAuditSchedule(t *testing.T) {
	e, q := purgeEnv(t)
	resp, body := e.req(e.admin, "GET", Prefix+"/system/purgeaudit/schedule", nil)
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("no schedule: %d %q, want 200 and an empty body", resp.StatusCode, body)
	}
	params := map[string]any{"audit_retention_hour": 168, "include_event_types": "create_artifact,delete_artifact,pull_artifact", "dry_run": false}
	e.expect(200, e.admin, "PUT", Prefix+"/system/purgeaudit/schedule", map[string]any{"schedule": map[string]any{"type": "Daily"}, "parameters": params})
	h := decode[execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/purgeaudit/schedule", nil))
	next := time.Time(*h.Schedule.NextScheduledTime)
	if h.JobKind != jobs.CronDaily || h.Schedule.Type != "Daily" || h.Schedule.Cron != jobs.CronDaily ||
		h.JobParameters != `{"audit_retention_hour":168,"dry_run":false,"include_event_types":"create_artifact,delete_artifact,pull_artifact"}` ||
		!next.After(time.Now()) || next.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("daily schedule = %+v (next %v)", h, next)
	}
	resp, body = e.req(e.admin, "POST", Prefix+"/system/purgeaudit/schedule", map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "0 15 3 * * *"}, "parameters": params})
	if resp.StatusCode != 201 || resp.Header.Get("Location") != Prefix+"/system/purgeaudit/schedule" {
		t.Fatalf("custom schedule: %d %s %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	h = decode[execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/purgeaudit/schedule", nil))
	if h.Schedule.Type != "Custom" || h.Schedule.Cron != "0 15 3 * * *" || time.Time(*h.Schedule.NextScheduledTime).UTC().Format("15:04:05") != "03:15:00" {
		t.Fatalf("custom schedule = %+v", h.Schedule)
	}

	// When it comes round, the scheduler runs it: a SCHEDULE execution.
	j, err := e.store.GetSchedule(e.ctx, audit.PurgeSchedule)
	if err != nil {
		t.Fatal(err)
	}
	j.NextRun = time.Now().Add(-time.Second)
	if err := e.store.SetSchedule(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	fired, err := (&jobs.Scheduler{Queue: q}).Tick(e.ctx)
	if err != nil || len(fired) != 1 {
		t.Fatalf("Tick = %v, %v", fired, err)
	}
	e.waitExecution(fired[0], meta.JobSuccess)
	list := decode[[]execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/purgeaudit", nil))
	if len(list) != 1 || list[0].JobKind != "SCHEDULE" || list[0].Schedule.Type != "Schedule" || !strings.Contains(list[0].JobParameters, `"audit_retention_hour":168`) {
		t.Fatalf("history = %+v", list)
	}

	// None removes it.
	e.expect(200, e.admin, "PUT", Prefix+"/system/purgeaudit/schedule", map[string]any{"schedule": map[string]any{"type": "None"}})
	if _, body := e.req(e.admin, "GET", Prefix+"/system/purgeaudit/schedule", nil); body != "" {
		t.Fatalf("after None: %q", body)
	}
	e.expect(201, e.admin, "POST", Prefix+"/system/purgeaudit/schedule", map[string]any{"schedule": map[string]any{"type": "None"}})
	for _, rec := range [][2]string{{"update", "purge_audit_schedule"}, {"delete", "purge_audit_schedule"}} {
		if got := e.auditResources(rec[0], rec[1]); len(got) == 0 {
			t.Errorf("no %s_%s audit record", rec[0], rec[1])
		}
	}
}

// TestPurgeAuditWithoutJobs: a server without a job queue answers 503.
func TestPurgeAuditWithoutJobs(t *testing.T) {
	e := newEnv(t)
	e.expect(503, e.admin, "GET", Prefix+"/system/purgeaudit", nil)
	e.expect(503, e.admin, "GET", Prefix+"/system/purgeaudit/schedule", nil)
}
