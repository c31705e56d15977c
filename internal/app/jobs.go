package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/retention"
)

// newQueue is this replica's background job queue (internal/jobs), with
// the job kinds of every capability registered: each adds its own line.
func newQueue(store *sqlstore.Store, holder string, bus *events.Bus, log *slog.Logger) *jobs.Queue {
	q := jobs.NewQueue(store, holder, log)
	q.Register(audit.PurgeKind, audit.Purge(store), jobs.Exclusive())
	(&retention.Runner{Store: store, Log: log, Events: bus}).Register(q)
	return q
}

// runQueue runs the queue's workers and the scheduler until ctx ends; the
// workers then give running handlers their grace period (see jobs.Queue).
func runQueue(ctx context.Context, wg *sync.WaitGroup, q *jobs.Queue, log *slog.Logger) {
	wg.Go(func() { q.Run(ctx) })
	wg.Go(func() { (&jobs.Scheduler{Queue: q, Log: log}).Run(ctx) })
}

// purgeScheduled reports whether an audit purge schedule is set: it then
// replaces the fixed --audit-retention-days pruning.
func purgeScheduled(q *jobs.Queue) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := q.Schedule(ctx, audit.PurgeSchedule)
		if errors.Is(err, meta.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
}
