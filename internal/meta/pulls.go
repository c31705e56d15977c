package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// PullCount is a number of pulls to add to a repository's pull count.
type PullCount struct {
	Repo string
	N    int64
}

// PullTime is the latest pull of manifest Digest of Repo, by Tag ("" for
// a pull by digest).
type PullTime struct {
	Repo   string
	Digest digest.Digest
	Tag    string
	At     time.Time
}

// PullStore records pull statistics, which pulls gather in memory and
// hand over in batches (see internal/pullstats).
type PullStore interface {
	// RecordPulls adds counts to the repositories' pull counts, and moves
	// the pull time of each manifest, and of each tag that still points
	// at the manifest pulled by it, forward to At (never back), all in one
	// transaction. Repositories, manifests and tags that are gone are
	// skipped.
	RecordPulls(ctx context.Context, counts []PullCount, times []PullTime) error
}
