package s3

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
)

// conflictPauses are the waits before each repeat of a write refused with
// 409 Conflict: at most three repeats, 70 ms in all.
var conflictPauses = [...]time.Duration{5 * time.Millisecond, 15 * time.Millisecond, 50 * time.Millisecond}

// write runs put, an idempotent write (a PUT of a body put can produce
// again, or a server-side compose of pinned sources), again when the
// server refused it with 409 Conflict. minio-go repeats 5xx answers itself
// but not a 409, which S3 servers give for writes that only collided with
// another request:
//   - a server storing objects as files (versitygw's posix backend) removes
//     a directory a delete left empty, and a write that had just created
//     that directory fails: 409 ExistingObjectIsDirectory. In a registry
//     this happens whenever an upload starts as the last other one ends
//     (uploads/ empties) or a blob is committed as its last neighbour under
//     blobs/<alg>/<xx>/ is collected;
//   - AWS S3 answers 409 OperationAborted to a write that raced a
//     conflicting one, and asks that it be tried again.
//
// Written again, the object is whole and the same, so repeating is safe.
func write(ctx context.Context, put func() error) error {
	err := put()
	for _, pause := range conflictPauses {
		if err == nil || minio.ToErrorResponse(err).StatusCode != http.StatusConflict {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = put()
	}
	return err
}

// put writes data at key (through write).
func (s *Store) put(ctx context.Context, key string, data []byte) (info minio.UploadInfo, err error) {
	err = write(ctx, func() error {
		info, err = s.c.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		return err
	})
	return info, err
}
