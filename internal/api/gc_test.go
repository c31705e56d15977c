package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// gcEnv is an env whose queue runs the real garbage collector over e's
// store and a directory blob store (e.push stores no bytes: their
// deletion finds them missing, which counts as deleted).
func gcEnv(t *testing.T) (*env, *jobs.Queue) {
	e := newEnv(t)
	blobs, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := e.withJobs(func(q *jobs.Queue) {
		q.Register(gc.Kind, (&gc.Collector{Meta: e.store, Blobs: blobs}).Handler(), jobs.Exclusive())
	})
	return e, q
}

// startGC runs GC now with params and returns its execution id.
func (e *env) startGC(params map[string]any) int64 {
	e.t.Helper()
	resp, body := e.req(e.admin, "POST", Prefix+"/system/gc/schedule", map[string]any{
		"schedule": map[string]any{"type": "Manual"}, "parameters": params})
	if resp.StatusCode != 201 {
		e.t.Fatalf("manual GC: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, Prefix+"/system/gc/"), 10, 64)
	if err != nil {
		e.t.Fatalf("Location %q", loc)
	}
	return id
}

// gcJobParams decodes a GCHistory's job_parameters.
func gcJobParams(t *testing.T, h execHistory) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(h.JobParameters), &m); err != nil {
		t.Fatalf("job_parameters %q: %v", h.JobParameters, err)
	}
	return m
}

func TestGCManual(t *testing.T) {
	e, _ := gcEnv(t)
	e.push("p/a", "v1")
	gone := e.push("p/a", "old")
	if err := e.store.DeleteManifest(e.ctx, "p/a", gone); err != nil {
		t.Fatal(err)
	}
	e.push("p/b") // untagged
	params := map[string]any{"delete_untagged": true, "dry_run": true, "workers": 2, "time_window": 0, "delete_tag": false}

	// A dry run reports and deletes nothing.
	time.Sleep(2 * time.Millisecond) // the store keeps milliseconds; the run's own one is young
	id := e.startGC(params)
	e.waitExecution(id, meta.JobSuccess)
	h := decode[execHistory](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/gc/%d", Prefix, id), nil))
	if h.ID != id || h.JobName != "GARBAGE_COLLECTION" || h.JobKind != "MANUAL" || h.JobStatus != "Success" || h.Schedule == nil ||
		h.Schedule.Type != "Manual" || h.Deleted {
		t.Fatalf("dry run history = %+v", h)
	}
	dry := gcJobParams(t, h)
	for k, want := range map[string]any{"delete_untagged": true, "dry_run": true, "workers": 2.0, "time_window": 0.0, "delete_tag": false,
		"purged_manifests": 1.0, "purged_blobs": 4.0, "unlinked_blobs": 4.0} {
		if dry[k] != want {
			t.Fatalf("dry run job_parameters[%s] = %v, want %v (%s)", k, dry[k], want, h.JobParameters)
		}
	}
	log := e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/gc/%d/log", Prefix, id), nil)
	if !strings.Contains(log, "dry run") || !strings.Contains(log, "would delete 1 manifests") {
		t.Fatalf("dry run log = %q", log)
	}
	if _, err := e.store.Artifact(e.ctx, "p/b", mustUntagged(t, e)); err != nil {
		t.Fatalf("a dry run deleted the untagged artifact: %v", err)
	}

	// The real run deletes exactly that.
	params["dry_run"] = false
	id2 := e.startGC(params)
	e.waitExecution(id2, meta.JobSuccess)
	h = decode[execHistory](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/gc/%d", Prefix, id2), nil))
	real := gcJobParams(t, h)
	for _, k := range []string{"purged_manifests", "purged_blobs", "freed_space", "unlinked_blobs"} {
		if real[k] != dry[k] {
			t.Fatalf("%s: dry run %v, real run %v", k, dry[k], real[k])
		}
	}
	resp, body := e.req(e.admin, "GET", fmt.Sprintf("%s/system/gc/%d/log", Prefix, id2), nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(body, "deleted 1 manifests") {
		t.Fatalf("log: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if list, _, _ := e.store.Artifacts(e.ctx, "p/b", meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}); len(list) != 0 {
		t.Fatalf("untagged artifact left: %+v", list)
	}

	// History: newest first, paged, filtered.
	e.startGC(map[string]any{}) // defaults: delete_untagged false, workers 1, time_window 2
	resp, body = e.req(e.admin, "GET", Prefix+"/system/gc?page=1&page_size=2", nil)
	list := decode[[]execHistory](t, body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "3" || len(list) != 2 || list[1].ID != id2 {
		t.Fatalf("history: %d total %s %+v", resp.StatusCode, resp.Header.Get("X-Total-Count"), list)
	}
	if p := gcJobParams(t, list[0]); p["workers"] != 1.0 || p["time_window"] != 2.0 || p["delete_untagged"] != false {
		t.Fatalf("default parameters: %s", list[0].JobParameters)
	}
	if !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Fatalf("Link = %q", resp.Header.Get("Link"))
	}
	list = decode[[]execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/gc?q=dry_run%3Dtrue", nil))
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("dry runs: %+v", list)
	}
	e.expect(400, e.admin, "GET", Prefix+"/system/gc?q=nope%3D1", nil)
	if got := e.auditResources("create", "gc"); len(got) != 3 {
		t.Fatalf("audit records of the runs: %v", got)
	}
}

// mustUntagged returns the digest of p/b's one artifact.
func mustUntagged(t *testing.T, e *env) digest.Digest {
	t.Helper()
	list, _, err := e.store.Artifacts(e.ctx, "p/b", meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	if err != nil || len(list) != 1 {
		t.Fatalf("artifacts of p/b: %v %+v", err, list)
	}
	return list[0].Digest
}

func TestGCErrors(t *testing.T) {
	e, _ := gcEnv(t)
	alice := e.user("alice", false)
	manual := func(params map[string]any) map[string]any {
		return map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": params}
	}
	id := e.startGC(nil)
	e.waitExecution(id, meta.JobSuccess)
	job := fmt.Sprintf("%s/system/gc/%d", Prefix, id)
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"GET", Prefix + "/system/gc", nil},
		{"GET", job, nil},
		{"PUT", job, nil},
		{"GET", job + "/log", nil},
		{"GET", Prefix + "/system/gc/schedule", nil},
		{"POST", Prefix + "/system/gc/schedule", manual(nil)},
		{"PUT", Prefix + "/system/gc/schedule", manual(nil)},
	} {
		e.expect(403, alice, op.method, op.path, op.body)
		e.expect(401, cred{}, op.method, op.path, op.body)
	}
	for _, path := range []string{"/system/gc/999", "/system/gc/999/log"} {
		e.expect(404, e.admin, "GET", Prefix+path, nil)
	}
	e.expect(404, e.admin, "PUT", Prefix+"/system/gc/999", nil)
	e.expect(400, e.admin, "GET", Prefix+"/system/gc/abc", nil)
	// An execution of another job is not a GC.
	other := &meta.Execution{Kind: "purge_audit", Trigger: meta.TriggerManual}
	if err := e.store.Enqueue(e.ctx, other, false); err != nil {
		t.Fatal(err)
	}
	e.expect(404, e.admin, "GET", fmt.Sprintf("%s/system/gc/%d", Prefix, other.ID), nil)

	for name, b := range map[string]any{
		"no schedule":           map[string]any{"parameters": map[string]any{}},
		"workers 0":             manual(map[string]any{"workers": 0}),
		"workers 11":            manual(map[string]any{"workers": 11}),
		"workers a string":      manual(map[string]any{"workers": "2"}),
		"workers a fraction":    manual(map[string]any{"workers": 1.5}),
		"negative time window":  manual(map[string]any{"time_window": -1}),
		"time window too large": manual(map[string]any{"time_window": 9000000}),
		"dry_run a string":      manual(map[string]any{"dry_run": "yes"}),
		"delete_untagged a num": manual(map[string]any{"delete_untagged": 1}),
		"bad cron":              map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "* * * * * *"}},
		"five-field cron":       map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "0 3 * * *"}},
		"unknown type":          map[string]any{"schedule": map[string]any{"type": "Sometimes"}},
	} {
		for _, method := range []string{"POST", "PUT"} {
			if resp, b := e.req(e.admin, method, Prefix+"/system/gc/schedule", b); resp.StatusCode != 400 || !strings.Contains(b, `"BAD_REQUEST"`) {
				t.Errorf("%s: %s answered %d %s, want 400", name, method, resp.StatusCode, b)
			}
		}
	}
	if b := e.expect(400, e.admin, "POST", Prefix+"/system/gc/schedule", manual(map[string]any{"workers": 11})); !strings.Contains(b,
		"Workers must be greater than 0 and less than or equal to 10") {
		t.Errorf("workers message: %s", b)
	}
	e.expect(400, e.admin, "POST", Prefix+"/system/gc/schedule", "not json")
}

// TestGCStopAndConflict: a running GC is stopped on request; another
// cannot start while one is active (409, as Harbor).
func TestGCStopAndConflict(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	e.withJobs(func(q *jobs.Queue) {
		q.Register(gc.Kind, func(ctx context.Context, run *jobs.Run) error {
			run.Log("waiting")
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}, jobs.Exclusive())
	})
	id := e.startGC(nil)
	<-started
	e.waitExecution(id, meta.JobRunning)
	for _, method := range []string{"POST", "PUT"} {
		b := e.expect(409, e.admin, method, Prefix+"/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"}})
		if !strings.Contains(b, `"CONFLICT"`) {
			t.Fatalf("409 body %s", b)
		}
	}
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/system/gc/%d", Prefix, id), nil)
	e.waitExecution(id, meta.JobStopped)
	if h := decode[execHistory](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/gc/%d", Prefix, id), nil)); h.JobStatus != "Stopped" {
		t.Fatalf("status %s, want Stopped", h.JobStatus)
	}
	if log := e.expect(200, e.admin, "GET", fmt.Sprintf("%s/system/gc/%d/log", Prefix, id), nil); !strings.Contains(log, "stopped on request") {
		t.Fatalf("log = %q", log)
	}
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/system/gc/%d", Prefix, id), nil) // finished: nothing changes
	if got := e.auditResources("stop", "gc"); len(got) != 2 {
		t.Fatalf("stop records: %v", got)
	}
	e.startGC(nil) // once it has ended, another may start
}

func TestGCSchedule(t *testing.T) {
	e, q := gcEnv(t)
	resp, body := e.req(e.admin, "GET", Prefix+"/system/gc/schedule", nil)
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("no schedule: %d %q, want 200 and an empty body", resp.StatusCode, body)
	}
	params := map[string]any{"delete_untagged": true, "workers": 3, "time_window": 0}
	e.expect(200, e.admin, "PUT", Prefix+"/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Weekly"}, "parameters": params})
	h := decode[execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/gc/schedule", nil))
	if h.JobKind != jobs.CronWeekly || h.Schedule.Type != "Weekly" || h.Schedule.Cron != jobs.CronWeekly ||
		h.JobParameters != `{"delete_untagged":true,"dry_run":false,"time_window":0,"workers":3}` ||
		!time.Time(*h.Schedule.NextScheduledTime).After(time.Now()) {
		t.Fatalf("weekly schedule = %+v", h)
	}
	resp, body = e.req(e.admin, "POST", Prefix+"/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "0 0 2 * * *"}, "parameters": params})
	if resp.StatusCode != 201 || resp.Header.Get("Location") != Prefix+"/system/gc/schedule" {
		t.Fatalf("custom schedule: %d %s %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	h = decode[execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/gc/schedule", nil))
	if h.Schedule.Type != "Custom" || h.Schedule.Cron != "0 0 2 * * *" || time.Time(*h.Schedule.NextScheduledTime).UTC().Format("15:04:05") != "02:00:00" {
		t.Fatalf("custom schedule = %+v", h.Schedule)
	}

	// When it comes round, the scheduler runs it: a SCHEDULE execution.
	e.push("p/r") // untagged: the scheduled run deletes it
	j, err := e.store.GetSchedule(e.ctx, gc.Schedule)
	if err != nil {
		t.Fatal(err)
	}
	j.NextRun = time.Now().Add(-time.Second)
	if err := e.store.SetSchedule(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	fired, err := (&jobs.Scheduler{Queue: q}).Tick(e.ctx)
	if err != nil || len(fired) != 1 {
		t.Fatalf("Tick = %v, %v", fired, err)
	}
	e.waitExecution(fired[0], meta.JobSuccess)
	list := decode[[]execHistory](t, e.expect(200, e.admin, "GET", Prefix+"/system/gc", nil))
	if len(list) != 1 || list[0].JobKind != "SCHEDULE" || list[0].Schedule.Type != "Schedule" || gcJobParams(t, list[0])["purged_manifests"] != 1.0 {
		t.Fatalf("history = %+v", list)
	}

	// None removes it.
	e.expect(200, e.admin, "PUT", Prefix+"/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "None"}})
	if _, body := e.req(e.admin, "GET", Prefix+"/system/gc/schedule", nil); body != "" {
		t.Fatalf("after None: %q", body)
	}
	e.expect(201, e.admin, "POST", Prefix+"/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "None"}})
	for _, rec := range [][2]string{{"update", "gc_schedule"}, {"delete", "gc_schedule"}} {
		if got := e.auditResources(rec[0], rec[1]); len(got) == 0 {
			t.Errorf("no %s_%s audit record", rec[0], rec[1])
		}
	}
}

// TestGCWithoutJobs: a server without a job queue answers 503.
func TestGCWithoutJobs(t *testing.T) {
	e := newEnv(t)
	e.expect(503, e.admin, "GET", Prefix+"/system/gc", nil)
	e.expect(503, e.admin, "POST", Prefix+"/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"}})
}
