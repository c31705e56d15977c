// Package blob defines the content-addressed byte store. Blobs are global
// and written once; which repository may read one is decided by meta.Store,
// never here. Implementations: fs (local directory), and later s3.
package blob

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrNotFound: no committed blob (or upload) with that digest (or id).
	ErrNotFound = errors.New("blob not found")
	// ErrInvalidID: an upload id that is not one this package could have
	// issued; checked before any path is built from it.
	ErrInvalidID = errors.New("invalid upload id")
)

// Store holds committed blobs and the bytes of in-progress uploads.
//
// An upload is an append-only byte sequence named by an id from NewUploadID.
// Its progress (offset, hash state) is kept by the caller in meta.Store; the
// store only guarantees that the first n bytes it acknowledged are durable.
type Store interface {
	// Stat returns the size of a committed blob.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns a reader over a committed blob. The fs store returns an
	// *os.File so net/http can use sendfile.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error)
	// Delete removes a committed blob's bytes. Only garbage collection calls
	// it, after the blob's database row is gone.
	Delete(ctx context.Context, d digest.Digest) error

	// Append opens upload id for writing at offset, discarding any bytes
	// past offset (left by a crashed or disconnected earlier request), and
	// creating the upload if offset is 0 and it does not exist.
	Append(ctx context.Context, id string, offset int64) (UploadWriter, error)
	// ReadUpload reads an upload's bytes from the start (used to compute a
	// digest of another algorithm than the one hashed while streaming).
	ReadUpload(ctx context.Context, id string) (io.ReadCloser, error)
	// Commit atomically makes upload id the blob d of the given size. The
	// caller has verified the digest. If d already exists the upload is
	// dropped: content-addressed bytes are identical. If the upload is gone
	// but d exists with that size (an earlier Commit of the same upload
	// was cut short after moving it), Commit succeeds, so a client can
	// retry the final PUT after a crash.
	Commit(ctx context.Context, id string, d digest.Digest, size int64) error
	// Abort removes an upload's bytes; it is not an error if none exist.
	Abort(ctx context.Context, id string) error
	// Uploads lists uploads with their last modification time, for sweeping
	// uploads abandoned by clients or orphaned by a crash.
	Uploads(ctx context.Context) ([]UploadInfo, error)
}

// UploadWriter appends to an upload. Close makes the written bytes durable
// (fsync) before returning; only then may the caller record the new offset.
type UploadWriter interface {
	io.Writer
	// Close syncs and closes. After an error nothing past the starting
	// offset may be assumed written.
	Close() error
	// Abandon closes without syncing (the request failed; the caller will
	// not record progress).
	Abandon()
}

// UploadInfo describes one upload's bytes in the store.
type UploadInfo struct {
	ID      string
	ModTime time.Time
}
