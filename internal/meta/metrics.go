package meta

import (
	"context"
	"time"
)

// MetricsStore reads the figures the Prometheus collectors export at
// scrape time (internal/metrics). Each family is one bounded query; the
// caller caches the result for a few seconds.
type MetricsStore interface {
	// ProjectFigures returns, for at most limit projects by name, their
	// usage, quota, repository, pull, artifact and member counts.
	ProjectFigures(ctx context.Context, limit int) ([]ProjectFigures, error)
	// JobFigures counts the job executions by kind and status.
	JobFigures(ctx context.Context) ([]JobFigures, error)
	// StoreFigures counts upload sessions and committed blobs, and reads
	// the last garbage collection's freed bytes.
	StoreFigures(ctx context.Context) (StoreFigures, error)
}

// ProjectFigures is one project's figures. Limit is -1 without a quota.
type ProjectFigures struct {
	Name      string
	Public    bool
	Used      int64
	Limit     int64
	Repos     int64
	Pulls     int64
	Artifacts int64
	Members   int64 // user members (groups aside), as Harbor counts
}

// JobFigures is the number of executions of a kind in a status.
type JobFigures struct {
	Kind, Status string
	Count        int64
}

// StoreFigures are the registry-wide counts. GCAt is zero if no
// collection (dry runs aside) has succeeded.
type StoreFigures struct {
	Uploads   int64
	Blobs     int64
	BlobBytes int64
	GCFreed   int64
	GCAt      time.Time
}
