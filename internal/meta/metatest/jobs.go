package metatest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// RunJobs is the suite for meta.JobStore. open returns a fresh, empty
// store (and arranges its own cleanup).
func RunJobs(t *testing.T, open func(t *testing.T) meta.JobStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s meta.JobStore)
	}{
		{"EnqueueClaimFinish", testJobLifecycle},
		{"Exclusive", testJobExclusive},
		{"LeaseExpiry", testJobLeaseExpiry},
		{"Stop", testJobStop},
		{"Release", testJobRelease},
		{"ConcurrentClaims", testJobConcurrentClaims},
		{"FairClaims", testJobFairClaims},
		{"ListExecutions", testJobList},
		{"Tasks", testJobTasks},
		{"Logs", testJobLogs},
		{"Schedules", testJobSchedules},
		{"AdvanceOnce", testJobAdvanceOnce},
		{"Prune", testJobPrune},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func enqueue(t *testing.T, s meta.JobStore, kind string, vendor int64, exclusive bool) *meta.Execution {
	t.Helper()
	e := &meta.Execution{Kind: kind, VendorID: vendor, Trigger: meta.TriggerManual, Params: `{"a":1}`}
	noErr(t, s.Enqueue(context.Background(), e, exclusive))
	if e.ID == 0 || e.Status != meta.JobPending || e.CreatedAt.IsZero() {
		t.Fatalf("Enqueue set %+v", e)
	}
	return e
}

func claim(t *testing.T, s meta.JobStore, holder string, ttl time.Duration, kinds ...string) *meta.Execution {
	t.Helper()
	e, err := s.Claim(context.Background(), kinds, holder, ttl, 3)
	noErr(t, err)
	return e
}

func wantNothing(t *testing.T, s meta.JobStore, kinds ...string) {
	t.Helper()
	if e, err := s.Claim(context.Background(), kinds, "h", time.Minute, 3); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Claim = %+v, %v; want ErrNotFound", e, err)
	}
}

func testJobLifecycle(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	a := enqueue(t, s, "gc", 0, false)
	b := enqueue(t, s, "gc", 0, false)
	enqueue(t, s, "other", 0, false)
	wantNothing(t, s) // no kinds
	wantNothing(t, s, "retention")

	c := claim(t, s, "h1", time.Minute, "gc", "retention")
	if c.ID != a.ID || c.Status != meta.JobRunning || c.Holder != "h1" || c.Attempts != 1 || c.StartedAt.IsZero() ||
		c.Params != `{"a":1}` || c.Trigger != meta.TriggerManual || !c.LeaseUntil.After(time.Now()) {
		t.Fatalf("first claim = %+v, want execution %d Running for h1", c, a.ID)
	}
	if d := claim(t, s, "h2", time.Minute, "gc"); d.ID != b.ID {
		t.Fatalf("second claim = %d, want %d", d.ID, b.ID)
	}
	wantNothing(t, s, "gc")

	stop, err := s.Renew(ctx, a.ID, "h1", time.Minute)
	if err != nil || stop {
		t.Fatalf("Renew = %v, %v", stop, err)
	}
	if _, err := s.Renew(ctx, a.ID, "h2", time.Minute); !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("Renew by another holder = %v, want ErrLeaseLost", err)
	}
	noErr(t, s.SetResult(ctx, a.ID, "h1", `{"n":1}`))
	if err := s.Finish(ctx, a.ID, "h2", meta.JobEnd{Status: meta.JobSuccess, Log: "not the holder\n"}); !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("Finish by another holder = %v, want ErrLeaseLost", err)
	}
	noErr(t, s.AppendLog(ctx, meta.LogExecution, a.ID, "first\n"))
	noErr(t, s.Finish(ctx, a.ID, "h1", meta.JobEnd{Status: meta.JobSuccess, Message: "done", Log: "last\n"}))
	// The end's log is written with it; the refused Finish wrote none.
	if l, err := s.ReadLog(ctx, meta.LogExecution, a.ID); err != nil || l != "first\nlast\n" {
		t.Fatalf("log after Finish = %q, %v", l, err)
	}
	got, err := s.GetExecution(ctx, a.ID)
	noErr(t, err)
	if got.Status != meta.JobSuccess || got.StatusMessage != "done" || got.Result != `{"n":1}` || got.EndedAt.IsZero() || got.Active() {
		t.Fatalf("finished execution = %+v", got)
	}
	if err := s.Finish(ctx, a.ID, "h1", meta.JobEnd{Status: meta.JobError}); !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("second Finish = %v, want ErrLeaseLost", err)
	}
	if _, err := s.Renew(ctx, a.ID, "h1", time.Minute); !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("Renew after Finish = %v, want ErrLeaseLost", err)
	}
	noErr(t, s.Finish(ctx, b.ID, "h2", meta.JobEnd{Status: meta.JobError, Message: "boom", Result: `{"n":2}`}))
	if got, _ := s.GetExecution(ctx, b.ID); got.Status != meta.JobError || got.Result != `{"n":2}` || got.StatusMessage != "boom" {
		t.Fatalf("failed execution = %+v", got)
	}
	if _, err := s.GetExecution(ctx, 999999); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetExecution(missing) = %v", err)
	}
}

func testJobExclusive(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	a := enqueue(t, s, "gc", 0, true)
	if err := s.Enqueue(ctx, &meta.Execution{Kind: "gc", Trigger: meta.TriggerManual}, true); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("second exclusive Enqueue = %v, want ErrConflict", err)
	}
	enqueue(t, s, "gc", 7, true)  // another vendor
	enqueue(t, s, "gc", 0, false) // not exclusive
	claim(t, s, "h", time.Minute, "gc")
	if err := s.Enqueue(ctx, &meta.Execution{Kind: "gc", Trigger: meta.TriggerManual}, true); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("exclusive Enqueue while running = %v, want ErrConflict", err)
	}
	noErr(t, s.Finish(ctx, a.ID, "h", meta.JobEnd{Status: meta.JobSuccess}))
	enqueue(t, s, "gc", 0, true)
}

func testJobLeaseExpiry(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	a := enqueue(t, s, "gc", 0, true)
	claim(t, s, "dead", 50*time.Millisecond, "gc")
	wantNothing(t, s, "gc") // still leased
	time.Sleep(80 * time.Millisecond)
	c := claim(t, s, "h2", 50*time.Millisecond, "gc")
	if c.ID != a.ID || c.Holder != "h2" || c.Attempts != 2 {
		t.Fatalf("re-claim = %+v, want attempt 2 by h2", c)
	}
	if _, err := s.Renew(ctx, a.ID, "dead", time.Minute); !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("Renew by the dead holder = %v, want ErrLeaseLost", err)
	}
	if err := s.Finish(ctx, a.ID, "dead", meta.JobEnd{Status: meta.JobSuccess}); !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("Finish by the dead holder = %v, want ErrLeaseLost", err)
	}
	time.Sleep(80 * time.Millisecond)
	c, err := s.Claim(ctx, []string{"gc"}, "h3", time.Minute, 3)
	noErr(t, err)
	if c.Attempts != 3 {
		t.Fatalf("third claim attempts = %d", c.Attempts)
	}
	// The third holder dies too: with 3 attempts used, it is given up.
	noErr(t, s.Finish(ctx, a.ID, "h3", meta.JobEnd{Status: meta.JobSuccess})) // (ends it; now a fresh one)
	b := enqueue(t, s, "gc", 0, true)
	claim(t, s, "x", 30*time.Millisecond, "gc")
	time.Sleep(60 * time.Millisecond)
	if _, err := s.Claim(ctx, []string{"gc"}, "y", time.Minute, 1); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("claim past max attempts = %v, want ErrNotFound", err)
	}
	got, _ := s.GetExecution(ctx, b.ID)
	if got.Status != meta.JobError || !strings.Contains(got.StatusMessage, "attempts") || got.EndedAt.IsZero() {
		t.Fatalf("abandoned execution = %+v, want Error", got)
	}
	enqueue(t, s, "gc", 0, true) // no longer active
}

func testJobStop(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	p := enqueue(t, s, "gc", 0, true)
	noErr(t, s.RequestStop(ctx, p.ID))
	if got, _ := s.GetExecution(ctx, p.ID); got.Status != meta.JobStopped || got.EndedAt.IsZero() {
		t.Fatalf("stopped Pending execution = %+v", got)
	}
	wantNothing(t, s, "gc")
	r := enqueue(t, s, "gc", 0, true) // the stopped one is not active
	claim(t, s, "h", time.Minute, "gc")
	noErr(t, s.RequestStop(ctx, r.ID))
	if stop, err := s.Renew(ctx, r.ID, "h", time.Minute); err != nil || !stop {
		t.Fatalf("Renew after RequestStop = %v, %v; want true", stop, err)
	}
	noErr(t, s.Finish(ctx, r.ID, "h", meta.JobEnd{Status: meta.JobStopped}))
	noErr(t, s.RequestStop(ctx, r.ID)) // finished: nothing changes
	if got, _ := s.GetExecution(ctx, r.ID); got.Status != meta.JobStopped {
		t.Fatalf("status after a late stop = %s", got.Status)
	}
	if err := s.RequestStop(ctx, 424242); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("RequestStop(missing) = %v", err)
	}
	// A stopped run whose holder died is Stopped by the next claim.
	d := enqueue(t, s, "gc", 0, true)
	claim(t, s, "dead", 30*time.Millisecond, "gc")
	noErr(t, s.RequestStop(ctx, d.ID))
	time.Sleep(60 * time.Millisecond)
	wantNothing(t, s, "gc")
	if got, _ := s.GetExecution(ctx, d.ID); got.Status != meta.JobStopped {
		t.Fatalf("stopped execution of a dead holder = %s", got.Status)
	}
}

func testJobRelease(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	a := enqueue(t, s, "gc", 0, true)
	claim(t, s, "h", time.Minute, "gc")
	if err := s.Release(ctx, a.ID, "other"); !errors.Is(err, meta.ErrLeaseLost) {
		t.Fatalf("Release by another = %v", err)
	}
	noErr(t, s.Release(ctx, a.ID, "h"))
	got, _ := s.GetExecution(ctx, a.ID)
	if got.Status != meta.JobPending || got.Attempts != 0 || got.StartedAt.IsZero() {
		t.Fatalf("released = %+v, want Pending, attempt not counted, start kept", got)
	}
	if err := s.Enqueue(ctx, &meta.Execution{Kind: "gc", Trigger: meta.TriggerManual}, true); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("a released execution is still active: Enqueue = %v", err)
	}
	if c := claim(t, s, "h2", time.Minute, "gc"); c.ID != a.ID || c.Attempts != 1 {
		t.Fatalf("claim after release = %+v", c)
	}
}

func testJobConcurrentClaims(t *testing.T, s meta.JobStore) {
	const n, workers = 24, 6
	ids := map[int64]bool{}
	for range n {
		ids[enqueue(t, s, "gc", 0, false).ID] = true
	}
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				e, err := s.Claim(context.Background(), []string{"gc"}, "w"+string(rune('a'+w)), time.Minute, 3)
				if errors.Is(err, meta.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[e.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d executions claimed, want %d", len(got), n)
	}
	for id, c := range got {
		if c != 1 || !ids[id] {
			t.Fatalf("execution %d claimed %d times", id, c)
		}
	}
}

// testJobFairClaims: vendor 1 queues five executions, then vendors 2 and
// 3 one and two; claims take turns between the vendors (the one that
// started an execution least recently first), in order within each.
func testJobFairClaims(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	names := map[int64]string{}
	for i := 1; i <= 5; i++ {
		names[enqueue(t, s, "fair", 1, false).ID] = fmt.Sprintf("a%d", i)
	}
	names[enqueue(t, s, "fair", 2, false).ID] = "b1"
	for i := 1; i <= 2; i++ {
		names[enqueue(t, s, "fair", 3, false).ID] = fmt.Sprintf("c%d", i)
	}
	var got []string
	for range 8 {
		e := claim(t, s, "h", time.Minute, "fair")
		got = append(got, names[e.ID])
		noErr(t, s.Finish(ctx, e.ID, "h", meta.JobEnd{Status: meta.JobSuccess}))
		time.Sleep(3 * time.Millisecond) // started_at is in milliseconds
	}
	if want := "a1 b1 c1 a2 c2 a3 a4 a5"; strings.Join(got, " ") != want {
		t.Fatalf("claimed %s, want %s", strings.Join(got, " "), want)
	}
	wantNothing(t, s, "fair")
}

func testJobList(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	var ids []int64
	for i := range 5 {
		e := &meta.Execution{Kind: "retention", VendorID: 3, Trigger: meta.TriggerManual, DryRun: i%2 == 0}
		if i == 4 {
			e.Trigger = meta.TriggerSchedule
		}
		noErr(t, s.Enqueue(ctx, e, false))
		ids = append(ids, e.ID)
	}
	enqueue(t, s, "retention", 4, false)
	enqueue(t, s, "gc", 3, false)
	c := claim(t, s, "h", time.Minute, "retention")
	noErr(t, s.Finish(ctx, c.ID, "h", meta.JobEnd{Status: meta.JobSuccess}))

	list, total, err := s.ListExecutions(ctx, meta.ExecutionQuery{Kind: "retention", VendorID: 3, ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 2}}})
	noErr(t, err)
	if total != 5 || len(list) != 2 || list[0].ID != ids[4] || list[1].ID != ids[3] {
		t.Fatalf("first page = %d of %d, want newest first of 5", len(list), total)
	}
	q := func(conds ...meta.Cond) []meta.Execution {
		t.Helper()
		l, n, err := s.ListExecutions(ctx, meta.ExecutionQuery{Kind: "retention", VendorID: 3,
			ListQuery: meta.ListQuery{Where: conds, Sort: []meta.Order{{Key: "id"}}, Page: meta.Page{Page: 1, Size: 100}}})
		noErr(t, err)
		if int(n) != len(l) {
			t.Fatalf("total %d, listed %d", n, len(l))
		}
		return l
	}
	if l := q(meta.Cond{Key: "status", Op: meta.Equal, Values: []string{meta.JobSuccess}}); len(l) != 1 || l[0].ID != ids[0] {
		t.Fatalf("status=Success: %+v", l)
	}
	if l := q(meta.Cond{Key: "trigger", Op: meta.Equal, Values: []string{meta.TriggerSchedule}}); len(l) != 1 || l[0].ID != ids[4] {
		t.Fatalf("trigger=SCHEDULE: %+v", l)
	}
	if l := q(meta.Cond{Key: "dry_run", Op: meta.Equal, Values: []string{"true"}}); len(l) != 3 || l[0].ID != ids[0] {
		t.Fatalf("dry_run=true: %d", len(l))
	}
	if l := q(meta.Cond{Key: "start_time", Op: meta.Range, Values: []string{"2000-01-01 00:00:00", ""}}); len(l) != 1 {
		t.Fatalf("start_time range: %d", len(l))
	}
	var qe *meta.QueryError
	if _, _, err := s.ListExecutions(ctx, meta.ExecutionQuery{Kind: "retention", ListQuery: meta.ListQuery{
		Where: []meta.Cond{{Key: "nope", Op: meta.Equal, Values: []string{"x"}}}}}); !errors.As(err, &qe) {
		t.Fatalf("unknown key = %v, want *QueryError", err)
	}
	if l, n, err := s.ListExecutions(ctx, meta.ExecutionQuery{Kind: "none"}); err != nil || n != 0 || l == nil || len(l) != 0 {
		t.Fatalf("empty list = %v, %d, %v; want [] (not nil)", l, n, err)
	}
}

func testJobTasks(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	e := enqueue(t, s, "retention", 1, false)
	var tasks []*meta.Task
	for i := range 3 {
		tk := &meta.Task{ExecutionID: e.ID, ExtraAttrs: `{"repository":"p/r` + string(rune('0'+i)) + `"}`}
		noErr(t, s.AddTask(ctx, tk))
		if tk.ID == 0 || tk.Status != meta.JobPending || tk.CreatedAt.IsZero() {
			t.Fatalf("AddTask set %+v", tk)
		}
		tasks = append(tasks, tk)
	}
	if err := s.AddTask(ctx, &meta.Task{ExecutionID: 987654}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("AddTask to a missing execution = %v, want ErrNotFound", err)
	}
	tk := tasks[1]
	tk.Status, tk.StatusMessage, tk.RunCount, tk.ExtraAttrs = meta.JobSuccess, "ok", 1, `{"retained":2}`
	tk.StartedAt, tk.EndedAt = time.Now().Add(-time.Second), time.Now()
	noErr(t, s.UpdateTask(ctx, tk))
	got, err := s.GetTask(ctx, tk.ID)
	noErr(t, err)
	if got.Status != meta.JobSuccess || got.RunCount != 1 || got.ExtraAttrs != `{"retained":2}` || got.EndedAt.IsZero() || got.ExecutionID != e.ID {
		t.Fatalf("updated task = %+v", got)
	}
	if err := s.UpdateTask(ctx, &meta.Task{ID: 55555, Status: meta.JobError}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("UpdateTask(missing) = %v", err)
	}
	if _, err := s.GetTask(ctx, 55555); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetTask(missing) = %v", err)
	}
	list, total, err := s.ListTasks(ctx, e.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	noErr(t, err)
	if total != 3 || len(list) != 3 || list[0].ID != tasks[0].ID {
		t.Fatalf("ListTasks = %d of %d", len(list), total)
	}
	list, total, err = s.ListTasks(ctx, e.ID, meta.ListQuery{Where: []meta.Cond{{Key: "status", Op: meta.Equal, Values: []string{meta.JobSuccess}}}})
	noErr(t, err)
	if total != 1 || list[0].ID != tk.ID {
		t.Fatalf("ListTasks status=Success = %+v", list)
	}
}

func testJobLogs(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	if l, err := s.ReadLog(ctx, meta.LogExecution, 1); err != nil || l != "" {
		t.Fatalf("empty log = %q, %v", l, err)
	}
	noErr(t, s.AppendLog(ctx, meta.LogExecution, 1, "one\n"))
	noErr(t, s.AppendLog(ctx, meta.LogExecution, 1, "two ✓\n"))
	noErr(t, s.AppendLog(ctx, meta.LogTask, 1, "task\n"))
	if l, _ := s.ReadLog(ctx, meta.LogExecution, 1); l != "one\ntwo ✓\n" {
		t.Fatalf("log = %q", l)
	}
	if l, _ := s.ReadLog(ctx, meta.LogTask, 1); l != "task\n" {
		t.Fatalf("task log = %q", l)
	}
	// Past the cap: cut with a marker, and nothing more after it.
	chunk := strings.Repeat("é", 300<<10) // 600 KiB, two-byte runes
	for range 3 {
		noErr(t, s.AppendLog(ctx, meta.LogExecution, 2, chunk))
	}
	noErr(t, s.AppendLog(ctx, meta.LogExecution, 2, "late\n"))
	l, err := s.ReadLog(ctx, meta.LogExecution, 2)
	noErr(t, err)
	if len(l) > meta.MaxJobLog+200 || len(l) < meta.MaxJobLog-200 || !strings.Contains(l, "log truncated") || strings.Contains(l, "late") {
		t.Fatalf("capped log: %d bytes, truncated %v", len(l), strings.Contains(l, "log truncated"))
	}
	if !strings.HasPrefix(l, chunk) || strings.ContainsRune(l, '\uFFFD') {
		t.Fatal("the capped log is not the start of what was written, cut on a rune boundary")
	}
}

func testJobSchedules(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	if _, err := s.GetSchedule(ctx, "gc"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetSchedule(none) = %v", err)
	}
	next := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	j := &meta.JobSchedule{Name: "retention:3", Kind: "retention", VendorID: 3, Type: "Daily", Cron: "0 0 0 * * *",
		Params: `{"x":1}`, DryRun: true, Jitter: 42 * time.Second, NextRun: next}
	noErr(t, s.SetSchedule(ctx, j))
	got, err := s.GetSchedule(ctx, "retention:3")
	noErr(t, err)
	if got.Kind != "retention" || got.VendorID != 3 || got.Type != "Daily" || got.Cron != "0 0 0 * * *" || got.Params != `{"x":1}` ||
		!got.DryRun || got.Jitter != 42*time.Second || !got.NextRun.Equal(next) || got.CreatedAt.IsZero() {
		t.Fatalf("schedule = %+v", got)
	}
	created := got.CreatedAt
	time.Sleep(5 * time.Millisecond)
	j.Type, j.Cron, j.NextRun = "Custom", "0 30 1 * * *", time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	noErr(t, s.SetSchedule(ctx, j))
	got, _ = s.GetSchedule(ctx, "retention:3")
	if got.Cron != "0 30 1 * * *" || !got.CreatedAt.Equal(created) || !got.UpdatedAt.After(created) {
		t.Fatalf("replaced schedule = %+v (created %v)", got, created)
	}
	noErr(t, s.SetSchedule(ctx, &meta.JobSchedule{Name: "gc", Kind: "gc", Type: "Hourly", Cron: "0 0 * * * *", NextRun: time.Now().Add(time.Hour)}))
	due, err := s.DueSchedules(ctx, time.Now(), 10)
	noErr(t, err)
	if len(due) != 1 || due[0].Name != "retention:3" {
		t.Fatalf("due = %+v, want retention:3 only", due)
	}
	noErr(t, s.DeleteSchedule(ctx, "retention:3"))
	if err := s.DeleteSchedule(ctx, "retention:3"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second DeleteSchedule = %v", err)
	}
}

func testJobAdvanceOnce(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	prev := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	noErr(t, s.SetSchedule(ctx, &meta.JobSchedule{Name: "gc", Kind: "gc", Type: "Hourly", Cron: "0 0 * * * *", NextRun: prev}))
	next := prev.Add(time.Hour)
	// Many replicas fire the same run: one wins.
	var wins sync.Map
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			run := &meta.Execution{Kind: "gc", Trigger: meta.TriggerSchedule, Params: `{"p":1}`}
			ok, err := s.Advance(ctx, "gc", prev, next, run, true)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Store(i, run.ID)
			}
		})
	}
	wg.Wait()
	var ids []int64
	wins.Range(func(_, v any) bool { ids = append(ids, v.(int64)); return true })
	if len(ids) != 1 || ids[0] == 0 {
		t.Fatalf("Advance won %d times (%v), want once with an execution", len(ids), ids)
	}
	e, err := s.GetExecution(ctx, ids[0])
	noErr(t, err)
	if e.Trigger != meta.TriggerSchedule || e.Params != `{"p":1}` || e.Status != meta.JobPending {
		t.Fatalf("scheduled execution = %+v", e)
	}
	got, _ := s.GetSchedule(ctx, "gc")
	if !got.NextRun.Equal(next) {
		t.Fatalf("next run = %v, want %v", got.NextRun, next)
	}
	// Due again while the first run is active: advanced, run skipped.
	run := &meta.Execution{Kind: "gc", Trigger: meta.TriggerSchedule}
	ok, err := s.Advance(ctx, "gc", next, next.Add(time.Hour), run, true)
	if err != nil || !ok || run.ID != 0 {
		t.Fatalf("Advance with an active run = %v, %v, id %d; want advanced, no execution", ok, err, run.ID)
	}
	if ok, err := s.Advance(ctx, "missing", next, next, nil, false); ok || err != nil {
		t.Fatalf("Advance(missing) = %v, %v", ok, err)
	}
}

// testJobPrune: finished executions older than the cut are deleted with
// their tasks and logs, except the newest keep of each kind and vendor;
// running ones and recent ones stay.
func testJobPrune(t *testing.T, s meta.JobStore) {
	ctx := context.Background()
	finish := func(kind string, vendor int64) *meta.Execution {
		e := enqueue(t, s, kind, vendor, false)
		c := claim(t, s, "h", time.Minute, kind)
		if c.ID != e.ID {
			t.Fatalf("claimed %d, want %d", c.ID, e.ID)
		}
		noErr(t, s.Finish(ctx, e.ID, "h", meta.JobEnd{Status: meta.JobSuccess}))
		return e
	}
	var gc []*meta.Execution
	for range 4 {
		gc = append(gc, finish("gc", 0))
	}
	task := &meta.Task{ExecutionID: gc[0].ID, Status: meta.JobSuccess}
	noErr(t, s.AddTask(ctx, task))
	noErr(t, s.AppendLog(ctx, meta.LogTask, task.ID, "task log"))
	noErr(t, s.AppendLog(ctx, meta.LogExecution, gc[0].ID, "execution log"))
	other := finish("retention", 7)
	running := enqueue(t, s, "gc", 0, false)
	claim(t, s, "h", time.Minute, "gc")

	// Nothing ended before an hour ago.
	n, err := s.PruneExecutions(ctx, time.Now().Add(-time.Hour), 1)
	noErr(t, err)
	if n != 0 {
		t.Fatalf("pruned %d recent executions", n)
	}
	// Keep the newest 2 of each kind and vendor: the running gc counts
	// as one of them, so gc[0..2] go and gc[3] stays; retention/7 has one.
	n, err = s.PruneExecutions(ctx, time.Now().Add(time.Hour), 2)
	noErr(t, err)
	if n != 3 {
		t.Fatalf("pruned %d, want 3", n)
	}
	for i, e := range gc {
		_, err := s.GetExecution(ctx, e.ID)
		if gone := errors.Is(err, meta.ErrNotFound); gone != (i < 3) {
			t.Fatalf("gc[%d]: err %v", i, err)
		}
	}
	for _, id := range []int64{other.ID, running.ID} {
		if _, err := s.GetExecution(ctx, id); err != nil {
			t.Fatalf("execution %d: %v", id, err)
		}
	}
	if _, err := s.GetTask(ctx, task.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("task of a pruned execution: %v", err)
	}
	for _, l := range []struct {
		owner string
		id    int64
	}{{meta.LogTask, task.ID}, {meta.LogExecution, gc[0].ID}} {
		if text, err := s.ReadLog(ctx, l.owner, l.id); err != nil || text != "" {
			t.Fatalf("%s log %d after pruning: %q, %v", l.owner, l.id, text, err)
		}
	}
}
