package meta

import "context"

// BlobDirStore records which blob directory the replicas share: the id
// in the marker file at the directory's root (internal/blob/fs). A replica
// compares the two before it reports ready, so one that mounted the wrong
// or an empty directory refuses to serve rather than answering 404 for
// every blob.
type BlobDirStore interface {
	// ClaimBlobDirID records id unless an id is recorded already, and
	// returns the recorded one. Replicas racing at first start agree.
	ClaimBlobDirID(ctx context.Context, id string) (string, error)
	// BlobDirID returns the recorded id, or "" if none is.
	BlobDirID(ctx context.Context) (string, error)
	// HasBlobs reports whether any blob is recorded (one indexed read).
	HasBlobs(ctx context.Context) (bool, error)
}
