package blob

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// BatchDeleter is an optional capability of a Store that removes many
// blobs in one request (an object store's DeleteObjects). Garbage
// collection discovers it by type assertion; it deletes the blobs of other
// stores one at a time with Delete.
type BatchDeleter interface {
	// DeleteBatch removes the bytes of ds and returns the error of each
	// blob it could not remove; a blob already missing counts as removed.
	// Like Delete, only garbage collection calls it.
	DeleteBatch(ctx context.Context, ds []digest.Digest) map[digest.Digest]error
}
