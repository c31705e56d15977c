package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testQueue is a fast queue: short lease, heartbeat and poll.
func testQueue(st meta.JobStore, holder string) *Queue {
	q := NewQueue(st, holder, quiet)
	q.TTL, q.Heartbeat, q.Poll, q.Grace = 300*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond, time.Second
	return q
}

// start runs q until the test ends (or the returned stop is called).
func start(t *testing.T, q *Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitFor polls execution id until it is no longer active (or 5 s pass).
func waitFor(t *testing.T, st meta.JobStore, id int64, want string) *meta.Execution {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e, err := st.GetExecution(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %d is %s (%s), want %s", id, e.Status, e.StatusMessage, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLog(t *testing.T, st meta.JobStore, id int64) string {
	t.Helper()
	l, err := st.ReadLog(context.Background(), meta.LogExecution, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestQueueRunsHandlers(t *testing.T) {
	st := openStore(t)
	q := testQueue(st, "r1")
	type params struct{ N int }
	q.Register("ok", func(ctx context.Context, run *Run) error {
		var p params
		if err := run.Params(&p); err != nil {
			return err
		}
		run.Log("counting to %d", p.N)
		var task meta.Task
		if err := run.AddTask(ctx, &task, map[string]string{"repository": "p/r"}); err != nil {
			return err
		}
		task.Status, task.RunCount = meta.JobSuccess, 1
		if err := run.UpdateTask(ctx, &task); err != nil {
			return err
		}
		if err := run.TaskLog(ctx, task.ID, "task done"); err != nil {
			return err
		}
		return run.SetResult(map[string]int{"counted": p.N})
	}, Exclusive())
	q.Register("fail", func(context.Context, *Run) error { return errors.New("disk on fire") })
	q.Register("panic", func(context.Context, *Run) error { panic("oops") })
	start(t, q)
	ctx := context.Background()

	id, err := q.Enqueue(ctx, "ok", 0, meta.TriggerManual, params{N: 3}, false)
	if err != nil {
		t.Fatal(err)
	}
	e := waitFor(t, st, id, meta.JobSuccess)
	if e.Result != `{"counted":3}` || e.Params != `{"N":3}` || e.Holder != "r1" || e.EndedAt.IsZero() {
		t.Fatalf("finished execution = %+v", e)
	}
	if l := readLog(t, st, id); !strings.Contains(l, "[INFO] counting to 3\n") {
		t.Fatalf("log = %q", l)
	}
	tasks, _, err := st.ListTasks(ctx, id, meta.ListQuery{})
	if err != nil || len(tasks) != 1 || tasks[0].Status != meta.JobSuccess || tasks[0].ExtraAttrs != `{"repository":"p/r"}` {
		t.Fatalf("tasks = %+v, %v", tasks, err)
	}
	if l, _ := st.ReadLog(ctx, meta.LogTask, tasks[0].ID); !strings.Contains(l, "task done") {
		t.Fatalf("task log = %q", l)
	}

	id, _ = q.Enqueue(ctx, "fail", 0, meta.TriggerManual, nil, false)
	if e := waitFor(t, st, id, meta.JobError); e.StatusMessage != "disk on fire" || !strings.Contains(readLog(t, st, id), "failed: disk on fire") {
		t.Fatalf("failed execution = %+v", e)
	}
	id, _ = q.Enqueue(ctx, "panic", 0, meta.TriggerManual, nil, false)
	if e := waitFor(t, st, id, meta.JobError); !strings.Contains(e.StatusMessage, "oops") {
		t.Fatalf("panicked execution = %+v", e)
	}
	if _, err := q.Enqueue(ctx, "unknown", 0, meta.TriggerManual, nil, false); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("Enqueue of an unregistered kind = %v", err)
	}
}

func TestQueueExclusive(t *testing.T) {
	st := openStore(t)
	q := testQueue(st, "r1")
	release := make(chan struct{})
	q.Register("gc", func(ctx context.Context, run *Run) error { <-release; return nil }, Exclusive())
	ctx := context.Background()
	id, err := q.Enqueue(ctx, "gc", 0, meta.TriggerManual, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, "gc", 0, meta.TriggerManual, nil, false); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("second Enqueue = %v, want ErrConflict", err)
	}
	start(t, q)
	waitFor(t, st, id, meta.JobRunning)
	if _, err := q.Enqueue(ctx, "gc", 0, meta.TriggerManual, nil, false); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("Enqueue while running = %v, want ErrConflict", err)
	}
	close(release)
	waitFor(t, st, id, meta.JobSuccess)
	if _, err := q.Enqueue(ctx, "gc", 0, meta.TriggerManual, nil, false); err != nil {
		t.Fatalf("Enqueue after the end = %v", err)
	}
}

// TestQueueStop: a stop request cancels the handler's context and the
// execution ends Stopped, whatever the handler returns.
func TestQueueStop(t *testing.T) {
	st := openStore(t)
	q := testQueue(st, "r1")
	var sawStop atomic.Bool
	q.Register("long", func(ctx context.Context, run *Run) error {
		<-ctx.Done()
		sawStop.Store(run.StopRequested() && errors.Is(context.Cause(ctx), ErrStopped))
		return ctx.Err()
	})
	start(t, q)
	id, _ := q.Enqueue(context.Background(), "long", 0, meta.TriggerManual, nil, false)
	waitFor(t, st, id, meta.JobRunning)
	if err := st.RequestStop(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, st, id, meta.JobStopped)
	if !sawStop.Load() {
		t.Fatal("the handler did not see the stop")
	}
	if l := readLog(t, st, id); !strings.Contains(l, "stopped on request") {
		t.Fatalf("log = %q", l)
	}
}

// TestQueueLeaseHeld: a run much longer than the lease keeps it by its
// heartbeat: another replica never runs it too.
func TestQueueLeaseHeld(t *testing.T) {
	st := openStore(t)
	var runs atomic.Int64
	h := func(ctx context.Context, run *Run) error {
		runs.Add(1)
		run.Log("working on %s", run.Execution.Holder)
		select {
		case <-time.After(time.Second): // more than three leases
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var queues []*Queue
	for _, name := range []string{"r1", "r2", "r3"} {
		q := testQueue(st, name)
		q.Register("long", h)
		queues = append(queues, q)
	}
	id, err := queues[0].Enqueue(context.Background(), "long", 0, meta.TriggerManual, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		start(t, q)
	}
	e := waitFor(t, st, id, meta.JobSuccess)
	if runs.Load() != 1 || e.Attempts != 1 {
		t.Fatalf("%d runs, %d attempts; want 1", runs.Load(), e.Attempts)
	}
}

// TestQueueReclaimAfterCrash: a replica claimed an execution and died;
// once its lease expires another replica runs it to the end.
func TestQueueReclaimAfterCrash(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	q := testQueue(st, "survivor")
	// Only the dead replica's lease is short: the survivor's own must not
	// expire under a loaded machine's slow writes (it would claim its
	// execution again, a third attempt).
	q.TTL = 5 * time.Second
	var resumed atomic.Int64
	q.Register("gc", func(ctx context.Context, run *Run) error {
		resumed.Store(int64(run.Execution.Attempts))
		return nil
	}, Exclusive())
	id, err := q.Enqueue(ctx, "gc", 0, meta.TriggerManual, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	// The dead replica: it claimed with a short lease, then nothing.
	if e, err := st.Claim(ctx, []string{"gc"}, "dead", 200*time.Millisecond, 3); err != nil || e.ID != id {
		t.Fatalf("claim = %v, %v", e, err)
	}
	start(t, q)
	e := waitFor(t, st, id, meta.JobSuccess)
	if e.Holder != "survivor" || e.Attempts != 2 || resumed.Load() != 2 {
		t.Fatalf("re-claimed execution = %+v (handler saw attempt %d)", e, resumed.Load())
	}
	if l := readLog(t, st, id); !strings.Contains(l, "resumed on survivor (attempt 2)") {
		t.Fatalf("log = %q", l)
	}
}

// TestQueueShutdown: a handler that ends within the grace period
// finishes; one that does not is cancelled and given back (Pending, the
// attempt not counted), and another replica runs it later.
func TestQueueShutdown(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	q := testQueue(st, "r1")
	q.Grace = 300 * time.Millisecond
	started := make(chan struct{}, 2)
	q.Register("short", func(ctx context.Context, run *Run) error {
		started <- struct{}{}
		time.Sleep(100 * time.Millisecond)
		return nil
	})
	q.Register("stuck", func(ctx context.Context, run *Run) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	short, _ := q.Enqueue(ctx, "short", 0, meta.TriggerManual, nil, false)
	stuck, _ := q.Enqueue(ctx, "stuck", 0, meta.TriggerManual, nil, false)
	stop := start(t, q)
	<-started
	<-started
	stop()
	waitFor(t, st, short, meta.JobSuccess)
	e := waitFor(t, st, stuck, meta.JobPending)
	if e.Attempts != 0 || !strings.Contains(readLog(t, st, stuck), "interrupted by a shutdown") {
		t.Fatalf("given back = %+v", e)
	}

	q2 := testQueue(st, "r2")
	q2.Register("stuck", func(context.Context, *Run) error { return nil })
	start(t, q2)
	if e := waitFor(t, st, stuck, meta.JobSuccess); e.Holder != "r2" || e.Attempts != 1 {
		t.Fatalf("after restart = %+v", e)
	}
}

// TestQueueLostLease: when another replica has taken the execution (the
// lease expired while this one was cut off from the database), the
// handler is cancelled and the old holder records nothing.
func TestQueueLostLease(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	q := testQueue(st, "r1")
	// One worker that polls no more once it has claimed the execution:
	// between the Release and r2's Claim below, an idle worker of r1
	// could otherwise claim the execution back (a hang seen in make test:
	// a second handler blocked sending on the full channel).
	q.Workers, q.Poll = 1, time.Hour
	cancelled := make(chan error, 1)
	q.Register("gc", func(ctx context.Context, run *Run) error {
		<-ctx.Done()
		select {
		case cancelled <- context.Cause(ctx):
		default: // only the first cancellation is looked at
		}
		return ctx.Err()
	})
	id, _ := q.Enqueue(ctx, "gc", 0, meta.TriggerManual, nil, false)
	start(t, q)
	waitFor(t, st, id, meta.JobRunning)
	// Another replica takes it over (as if r1's lease had expired).
	if err := st.Release(ctx, id, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Claim(ctx, []string{"gc"}, "r2", time.Minute, 3); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-cancelled:
		if !errors.Is(cause, meta.ErrLeaseLost) {
			t.Fatalf("cause = %v", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was not cancelled")
	}
	time.Sleep(100 * time.Millisecond)
	if e, _ := st.GetExecution(ctx, id); e.Status != meta.JobRunning || e.Holder != "r2" {
		t.Fatalf("execution = %+v, want still r2's", e)
	}
}
