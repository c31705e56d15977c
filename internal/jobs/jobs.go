// Package jobs is the machinery of background work, kept in the shared
// database so that any replica may do it and none of it lives only in
// memory:
//
//   - Queue: executions (rows of meta.JobStore) of registered kinds, each
//     claimed by one replica under a lease renewed by a heartbeat; a
//     replica that dies loses its lease and another claims the execution
//     again. Handlers log, report results, add tasks and honour stops.
//   - Scheduler: Harbor's schedules (cron with seconds) that enqueue an
//     execution each time they come round, exactly once across replicas.
//   - Runner: periodic housekeeping (upload sweeps) under a named lease.
//
// The capabilities (GC, retention, audit purge) register their handlers;
// this package knows none of them.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Runner runs jobs under leases held in the name of Holder.
type Runner struct {
	Leaser meta.Leaser
	Holder string
	Log    *slog.Logger
}

// NewHolder names this process uniquely among replicas.
func NewHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Every runs fn every interval until ctx ends, on whichever replica holds
// the lease name. The lease lasts one interval, so if its holder dies
// another replica takes over within an interval or two. The first run is
// after first (0: at once).
func (r *Runner) Every(ctx context.Context, name string, first, interval time.Duration, fn func(context.Context) error) {
	wait := first
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = interval
		ok, err := r.Leaser.TryLease(ctx, name, r.Holder, interval+interval/2)
		if err != nil {
			if ctx.Err() == nil {
				r.Log.Warn("taking a job lease", "job", name, "err", err)
			}
			continue
		}
		if !ok {
			continue // another replica runs it
		}
		runCtx, cancel := context.WithTimeout(ctx, interval)
		if err := fn(runCtx); err != nil && ctx.Err() == nil {
			r.Log.Warn("background job failed", "job", name, "err", err)
		}
		cancel()
	}
}
