package registry

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// collect deletes d's row and bytes as garbage collection does (d must be
// linked nowhere).
func (e *testEnv) collect(d digest.Digest) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.meta.GCDeleteBlobs(ctx, []digest.Digest{d}); err != nil {
		e.t.Fatal(err)
	}
	_, err := e.meta.GCDeleteBytes(ctx, []digest.Digest{d}, func(ctx context.Context, bs []meta.GCBlob) map[digest.Digest]error {
		errs := map[digest.Digest]error{}
		for _, b := range bs {
			if err := e.reg.blobs.Delete(ctx, b.Digest); err != nil && !errors.Is(err, blob.ErrNotFound) {
				errs[b.Digest] = err
			}
		}
		return errs
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) blobFile(d digest.Digest) bool {
	_, err := os.Stat(filepath.Join(e.dir, "blobs", "sha256", d.Encoded()[:2], d.Encoded()))
	return err == nil
}

// sessionPush uploads content through a session (POST, then PUT).
func (e *testEnv) sessionPush(repo string, content []byte) resp {
	e.t.Helper()
	r := e.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	e.expect(r, http.StatusAccepted, "")
	return e.do("PUT", r.header.Get("Location")+"?digest="+string(digest.FromBytes(content)), bytes.NewReader(content))
}

// TestPushAfterCollection: a blob pushed again after garbage collection
// deleted it, or while its deletion is queued, is stored whole, and the
// queued deletion no longer deletes it.
func TestPushAfterCollection(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	content := []byte("collected, then pushed again")
	d := e.pushBlob("a/one", content)
	e.expect(e.do("DELETE", "/v2/a/one/blobs/"+string(d), nil), http.StatusAccepted, "")
	e.collect(d)
	if e.blobFile(d) {
		t.Fatal("bytes left after collection")
	}
	e.expect(e.sessionPush("a/two", content), http.StatusCreated, "")
	if r := e.do("GET", "/v2/a/two/blobs/"+string(d), nil); r.status != 200 || !bytes.Equal(r.body, content) {
		t.Fatalf("GET after the push: %d %q", r.status, r.body)
	}

	// Queued but not yet deleted: the push takes the deletion back.
	e.expect(e.do("DELETE", "/v2/a/two/blobs/"+string(d), nil), http.StatusAccepted, "")
	if _, err := e.meta.GCDeleteBlobs(ctx, []digest.Digest{d}); err != nil {
		t.Fatal(err)
	}
	e.pushBlob("a/three", content)
	pending, err := e.meta.GCPendingDeletions(ctx, "", 10)
	if err != nil || len(pending) != 0 {
		t.Fatalf("deletions still queued after the push: %v %v", pending, err)
	}
	if r := e.do("GET", "/v2/a/three/blobs/"+string(d), nil); r.status != 200 || !bytes.Equal(r.body, content) {
		t.Fatalf("GET after the second push: %d %q", r.status, r.body)
	}
}

// racing is a store whose collector strikes between a commit's placing of
// its bytes and its CommitBlob, once, and whose pre-check never sees a
// queued deletion: the commit finds out in CommitBlob.
type racing struct {
	*sqlstore.Store
	strike atomic.Pointer[func()]
}

func (r *racing) BlobDeletionPending(context.Context, digest.Digest) (bool, error) { return false, nil }

func (r *racing) CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string) error {
	if f := r.strike.Swap(nil); f != nil {
		(*f)()
	}
	return r.Store.CommitBlob(ctx, repo, d, size, uploadID)
}

// TestPushRacingCollection: the collector deletes a blob's row and bytes
// after an upload of the same blob found them there (and dropped its own)
// but before it was recorded: the upload is refused (the client uploads
// again), not acknowledged with bytes gone. Uploaded again, it is stored.
func TestPushRacingCollection(t *testing.T) {
	e := newEnv(t, Options{})
	rs := &racing{Store: e.meta}
	e.reg.meta = rs
	content := []byte("pushed as it is collected")
	d := e.pushBlob("a/one", content)
	e.expect(e.do("DELETE", "/v2/a/one/blobs/"+string(d), nil), http.StatusAccepted, "")
	strike := func() { e.collect(d) }
	rs.strike.Store(&strike)
	r := e.sessionPush("a/two", content)
	e.expect(r, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	if len(e.uploadFiles()) != 0 {
		t.Fatalf("the refused session left %v", e.uploadFiles())
	}
	e.expect(e.do("HEAD", "/v2/a/two/blobs/"+string(d), nil), http.StatusNotFound, "")
	// Again: its bytes land where the collector deleted them; CommitBlob
	// finds the tombstone, and the bytes are checked under its lock.
	e.expect(e.sessionPush("a/two", content), http.StatusCreated, "")
	if r := e.do("GET", "/v2/a/two/blobs/"+string(d), nil); r.status != 200 || !bytes.Equal(r.body, content) {
		t.Fatalf("GET after the second upload: %d %q", r.status, r.body)
	}
	if pending, err := e.meta.BlobDeletionPending(context.Background(), d); err != nil || pending {
		t.Fatalf("tombstone left: %v %v", pending, err)
	}
}

// TestAbandonedUploads: AbandonedUploads counts what SweepUploads removes,
// and removes nothing.
func TestAbandonedUploads(t *testing.T) {
	e := newEnv(t, Options{UploadTTL: time.Millisecond})
	e.expect(e.do("POST", "/v2/a/one/blobs/uploads/", nil), http.StatusAccepted, "")
	orphan := filepath.Join(e.dir, "uploads", blob.NewUploadID())
	if err := os.WriteFile(orphan, []byte("cut short"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	ctx := context.Background()
	n, err := e.reg.AbandonedUploads(ctx, 0)
	if err != nil || n != 2 || len(e.uploadFiles()) != 1 { // the session has no bytes yet
		t.Fatalf("AbandonedUploads = %d, %v; files %v", n, err, e.uploadFiles())
	}
	if u, err := e.meta.StaleUploads(ctx, time.Now(), 10); err != nil || len(u) != 1 {
		t.Fatalf("the count dropped the session: %v %v", u, err)
	}
	n, err = e.reg.SweepUploads(ctx, 0)
	if err != nil || n != 2 || len(e.uploadFiles()) != 0 {
		t.Fatalf("SweepUploads = %d, %v; files %v", n, err, e.uploadFiles())
	}
}
