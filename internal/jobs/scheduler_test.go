package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

func TestValidateCron(t *testing.T) {
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{"0 0 * * * *", true},
		{"0 0 2 * * *", true},
		{"0 */5 * * * 1-5", true},
		{"0 0 0 * * 0", true},
		{"@daily", true},
		{"", false},
		{"   ", false},
		{"* * * * * *", false},   // seconds must be 0
		{"30 0 * * * *", false},  // idem
		{"0 0 * * *", false},     // five fields
		{"0 0 0 * * * *", false}, // seven
		{"0 61 * * * *", false},
		{"0 0 25 * * *", false},
		{"nonsense", false},
	} {
		err := ValidateCron(tc.expr)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrBadCron) {
			t.Errorf("ValidateCron(%q) = %v, want ok=%v", tc.expr, err, tc.ok)
		}
	}
}

func TestCronOf(t *testing.T) {
	for _, tc := range []struct {
		typ, expr, want string
		ok              bool
	}{
		{ScheduleHourly, "ignored", CronHourly, true},
		{ScheduleDaily, "", CronDaily, true},
		{ScheduleWeekly, "", CronWeekly, true},
		{ScheduleCustom, "0 30 3 * * *", "0 30 3 * * *", true},
		{ScheduleSchedule, "0 30 3 * * *", "0 30 3 * * *", true},
		{ScheduleCustom, "* * * * * *", "", false},
		{ScheduleCustom, "", "", false},
		{ScheduleManual, "", "", false},
		{ScheduleNone, "", "", false},
		{"hourly", "", "", false},
	} {
		got, err := CronOf(tc.typ, tc.expr)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("CronOf(%q, %q) = %q, %v; want %q ok=%v", tc.typ, tc.expr, got, err, tc.want, tc.ok)
		}
	}
}

func TestNextRunAndJitter(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 20, 30, 0, time.UTC)
	next, err := NextRun(CronHourly, 0, at)
	if err != nil || !next.Equal(time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("NextRun hourly = %v, %v", next, err)
	}
	// With a jitter of 90 s: the 10:00 run happens at 10:01:30, so from
	// 10:00:30 the next is 10:01:30, and from 10:01:30 it is 11:01:30.
	j := 90 * time.Second
	if next, _ := NextRun(CronHourly, j, time.Date(2026, 5, 1, 10, 0, 30, 0, time.UTC)); !next.Equal(time.Date(2026, 5, 1, 10, 1, 30, 0, time.UTC)) {
		t.Fatalf("NextRun with jitter = %v", next)
	}
	if next, _ := NextRun(CronHourly, j, time.Date(2026, 5, 1, 10, 1, 30, 0, time.UTC)); !next.Equal(time.Date(2026, 5, 1, 11, 1, 30, 0, time.UTC)) {
		t.Fatalf("NextRun at a jittered run = %v", next)
	}
	if _, err := NextRun("bad", 0, at); !errors.Is(err, ErrBadCron) {
		t.Fatalf("NextRun(bad) = %v", err)
	}

	// Jitter: fixed per name, bounded by the window and half the period,
	// and different names spread.
	seen := map[time.Duration]bool{}
	for _, name := range []string{"retention:1", "retention:2", "retention:3", "retention:4", "retention:5", "retention:6"} {
		d := Jitter(name, CronDaily, DefaultJitterWindow)
		if d < 0 || d >= DefaultJitterWindow || d != Jitter(name, CronDaily, DefaultJitterWindow) {
			t.Fatalf("Jitter(%s) = %v", name, d)
		}
		seen[d] = true
		if m := Jitter(name, "0 * * * * *", DefaultJitterWindow); m >= 30*time.Second {
			t.Fatalf("Jitter on a one-minute cron = %v, want under 30s", m)
		}
	}
	if len(seen) < 4 {
		t.Fatalf("six names got %d distinct offsets", len(seen))
	}
}

func TestSetSchedule(t *testing.T) {
	st := openStore(t)
	q := testQueue(st, "r1")
	q.Register("gc", func(context.Context, *Run) error { return nil })
	ctx := context.Background()
	if _, err := q.SetSchedule(ctx, ScheduleSpec{Name: "gc", Kind: "gc", Type: ScheduleCustom, Cron: "* * * * * *"}); !errors.Is(err, ErrBadCron) {
		t.Fatalf("bad cron = %v", err)
	}
	if _, err := q.SetSchedule(ctx, ScheduleSpec{Name: "gc", Kind: "gc", Type: ScheduleManual}); !errors.Is(err, ErrBadCron) {
		t.Fatalf("Manual as a schedule = %v", err)
	}
	if _, err := q.SetSchedule(ctx, ScheduleSpec{Name: "x", Kind: "nope", Type: ScheduleDaily}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind = %v", err)
	}
	j, err := q.SetSchedule(ctx, ScheduleSpec{Name: "gc", Kind: "gc", Type: ScheduleDaily, Params: map[string]bool{"dry_run": true}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Schedule(ctx, "gc")
	if err != nil || got.Cron != CronDaily || got.Params != `{"dry_run":true}` || !got.DryRun || !got.NextRun.Equal(j.NextRun) ||
		!got.NextRun.After(time.Now()) || got.NextRun.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("schedule = %+v, %v", got, err)
	}
	if err := q.DeleteSchedule(ctx, "gc"); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteSchedule(ctx, "gc"); err != nil {
		t.Fatalf("deleting no schedule = %v", err)
	}
	if _, err := q.Schedule(ctx, "gc"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleted schedule = %v", err)
	}
}

// TestSchedulersFireOnce: two replicas' schedulers on one database, both
// ticking as a run comes due: one execution per run, the schedule moved
// to its next run.
func TestSchedulersFireOnce(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	var clock struct {
		sync.Mutex
		t time.Time
	}
	clock.t = time.Date(2026, 5, 1, 10, 59, 59, 0, time.UTC)
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.t }
	var scheds []*Scheduler
	for _, name := range []string{"r1", "r2"} {
		q := testQueue(st, name)
		q.Register("purge", func(context.Context, *Run) error { return nil }, Exclusive())
		q.Register("scan", func(context.Context, *Run) error { return nil })
		scheds = append(scheds, &Scheduler{Queue: q, Log: quiet, Now: now})
	}
	q := scheds[0].Queue
	for _, spec := range []ScheduleSpec{
		{Name: "purge", Kind: "purge", Type: ScheduleHourly, Params: `{"audit_retention_hour":1}`},
		{Name: "scan", Kind: "scan", Type: ScheduleHourly},
	} {
		j, err := q.SetSchedule(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		// As if set at 10:30.
		j.NextRun = time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)
		if err := st.SetSchedule(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	tickAll := func() (fired []int64) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, s := range scheds {
			for range 3 { // and each ticking more than once at a time
				wg.Go(func() {
					ids, err := s.Tick(ctx)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					fired = append(fired, ids...)
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		return fired
	}
	if fired := tickAll(); len(fired) != 0 {
		t.Fatalf("fired %v before the hour", fired)
	}
	clock.Lock()
	clock.t = time.Date(2026, 5, 1, 11, 0, 2, 0, time.UTC)
	clock.Unlock()
	fired := tickAll()
	if len(fired) != 2 {
		t.Fatalf("fired %v at 11:00, want one purge and one scan", fired)
	}
	for _, id := range fired {
		e, _ := st.GetExecution(ctx, id)
		if e.Trigger != meta.TriggerSchedule || e.Kind == "purge" && e.Params != `{"audit_retention_hour":1}` {
			t.Fatalf("scheduled execution = %+v", e)
		}
	}
	j, _ := st.GetSchedule(ctx, "purge")
	if !j.NextRun.Equal(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("next run = %v, want 12:00", j.NextRun)
	}
	// Three hours later (every replica was down): one run each, not three,
	// and the purge run is skipped since the 11:00 one is still Pending.
	clock.Lock()
	clock.t = time.Date(2026, 5, 1, 14, 30, 0, 0, time.UTC)
	clock.Unlock()
	fired = tickAll()
	if len(fired) != 1 {
		t.Fatalf("fired %v after the gap, want only scan", fired)
	}
	if e, _ := st.GetExecution(ctx, fired[0]); e.Kind != "scan" {
		t.Fatalf("fired %s", e.Kind)
	}
	if j, _ := st.GetSchedule(ctx, "purge"); !j.NextRun.Equal(time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC)) {
		t.Fatalf("next run after the gap = %v, want 15:00", j.NextRun)
	}
}

// TestSchedulerRuns: the Run loop fires a due schedule and the queue runs it.
func TestSchedulerRuns(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	q := testQueue(st, "r1")
	done := make(chan int64, 1)
	q.Register("tick", func(_ context.Context, run *Run) error { done <- run.ID(); return nil })
	j, err := q.SetSchedule(ctx, ScheduleSpec{Name: "tick", Kind: "tick", Type: ScheduleHourly})
	if err != nil {
		t.Fatal(err)
	}
	j.NextRun = time.Now().Add(-time.Second)
	if err := st.SetSchedule(ctx, j); err != nil {
		t.Fatal(err)
	}
	start(t, q)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go (&Scheduler{Queue: q, Log: quiet, Every: 20 * time.Millisecond}).Run(sctx)
	select {
	case id := <-done:
		waitFor(t, st, id, meta.JobSuccess)
	case <-time.After(5 * time.Second):
		t.Fatal("the schedule did not fire")
	}
}
