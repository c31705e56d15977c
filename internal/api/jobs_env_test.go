package api

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// withJobs gives e's API a job queue on e's store, with the kinds that
// register adds, and runs its workers (fast: short lease, heartbeat and
// poll) until the test ends.
func (e *env) withJobs(register func(q *jobs.Queue)) *jobs.Queue {
	e.t.Helper()
	q := jobs.NewQueue(e.store, "test-replica", slog.New(slog.NewTextHandler(io.Discard, nil)))
	q.TTL, q.Heartbeat, q.Poll, q.Grace = 2*time.Second, 50*time.Millisecond, 20*time.Millisecond, time.Second
	if register != nil {
		register(q)
	}
	e.api.opt.Jobs = q
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return q
}

// waitExecution waits until execution id has status want (5 s at most).
func (e *env) waitExecution(id int64, want string) *meta.Execution {
	e.t.Helper()
	return waitExecution(e.t, e.store, id, want)
}

func waitExecution(t *testing.T, st meta.JobStore, id int64, want string) *meta.Execution {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		x, err := st.GetExecution(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status == want {
			return x
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %d is %s (%s), want %s", id, x.Status, x.StatusMessage, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
