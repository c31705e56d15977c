package app

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/registry"
)

// registerGC makes the queue run garbage collections (one at a time:
// Harbor's 409 while one is active) over the stores; a run also sweeps
// the registry's abandoned uploads (as the periodic upload sweep does),
// and a dry run counts them.
func registerGC(q *jobs.Queue, store *sqlstore.Store, blobs blob.Store, reg *registry.Registry) {
	c := &gc.Collector{Meta: store, Blobs: blobs,
		SweepUploads: func(ctx context.Context) (int, error) { return reg.SweepUploads(ctx, time.Hour) },
		CountUploads: func(ctx context.Context) (int, error) { return reg.AbandonedUploads(ctx, time.Hour) }}
	q.Register(gc.Kind, c.Handler(), jobs.Exclusive())
}
