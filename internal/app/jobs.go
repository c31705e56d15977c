package app

import (
	"context"
	"log/slog"
	"sync"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// newQueue is this replica's background job queue (internal/jobs), with
// the job kinds of every capability registered: each adds its own line.
func newQueue(store *sqlstore.Store, holder string, log *slog.Logger) *jobs.Queue {
	q := jobs.NewQueue(store, holder, log)
	return q
}

// runQueue runs the queue's workers and the scheduler until ctx ends; the
// workers then give running handlers their grace period (see jobs.Queue).
func runQueue(ctx context.Context, wg *sync.WaitGroup, q *jobs.Queue, log *slog.Logger) {
	wg.Go(func() { q.Run(ctx) })
	wg.Go(func() { (&jobs.Scheduler{Queue: q, Log: log}).Run(ctx) })
}
