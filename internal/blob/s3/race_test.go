package s3_test

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/test/s3server"
)

// sameDirBlobs returns n distinct blob contents whose digests all start
// with "00", so that their keys share one directory of a file-system
// backed S3 server (blobs/sha256/00/).
func sameDirBlobs(t *testing.T, n int) [][]byte {
	var out [][]byte
	for i := 0; len(out) < n; i++ {
		b := fmt.Appendf(nil, "%s blob %d", t.Name(), i)
		if digest.FromBytes(b).Encoded()[:2] == "00" {
			out = append(out, b)
		}
	}
	return out
}

// TestCommitWhileNeighboursAreDeleted: blobs are committed and deleted
// while other objects of the same key directory are written and deleted
// as fast as the server takes them, as pushes do while garbage collection
// runs. A file-system backed S3 server (versitygw's posix backend here)
// removes a directory a delete left empty; a write that created the
// directory just before then fails with 409 ExistingObjectIsDirectory
// (seen in CI as a 500 on a push). The store writes again, so no commit
// fails.
func TestCommitWhileNeighboursAreDeleted(t *testing.T) {
	srv := s3server.Shared(t)
	bucket := srv.NewBucket(t)
	s := openStore(t, srv, bucket)
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	blobs := sameDirBlobs(t, 4)
	var commits, failures, churned atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for g := range 4 { // neighbours: written and deleted at once
		wg.Go(func() {
			// A blob's neighbour, and an upload's marker.
			keys := []string{fmt.Sprintf("berth/blobs/sha256/00/neighbour-%d", g), fmt.Sprintf("berth/uploads/neighbour-%d/started", g)}
			for i := 0; time.Now().Before(deadline); i++ {
				key := keys[i%2]
				if _, err := c.PutObject(t.Context(), bucket, key, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err == nil {
					_ = c.RemoveObject(t.Context(), bucket, key, minio.RemoveObjectOptions{})
				}
				churned.Add(1)
			}
		})
	}
	for g := range 4 { // the store: each goroutine commits and deletes a blob of its own
		wg.Go(func() {
			data := blobs[g]
			d := digest.FromBytes(data)
			for time.Now().Before(deadline) {
				id := blob.NewUploadID()
				w, err := s.Append(t.Context(), id, 0)
				if err == nil {
					_, err = w.Write(data)
				}
				if err == nil {
					err = w.Close()
				}
				if err == nil {
					err = s.Commit(t.Context(), id, d, int64(len(data)))
				}
				if err == nil {
					err = s.Delete(t.Context(), d)
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				commits.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d commits and deletes, %d failed; %d neighbour writes and deletes", commits.Load(), failures.Load(), churned.Load())
	if commits.Load() < 10 {
		t.Fatalf("only %d commits: the run proved little", commits.Load())
	}
	if err := firstErr.Load(); err != nil {
		t.Fatalf("%d of %d failed; the first: %v", failures.Load(), failures.Load()+commits.Load(), err)
	}
}
