package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// quotaEnv is a registry with project p, whose storage limit is limit.
func quotaEnv(t *testing.T, limit int64, opt Options) (*testEnv, *meta.Project) {
	t.Helper()
	e := newEnv(t, opt)
	p := &meta.Project{Name: "p"}
	if err := e.meta.CreateProjectWith(context.Background(), p, meta.ProjectChange{StorageLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	return e, p
}

func (e *testEnv) used(project string) int64 {
	e.t.Helper()
	n, err := e.meta.ProjectStorageUsed(context.Background(), project)
	if err != nil {
		e.t.Fatal(err)
	}
	if recount, err := e.meta.RecountProjectUsage(context.Background(), project); err != nil || recount != n {
		e.t.Fatalf("project %s: kept usage %d, recount %d (%v)", project, n, recount, err)
	}
	return n
}

// denied asserts r is Harbor's refusal of a push past the quota.
func (e *testEnv) denied(r resp, adding string) {
	e.t.Helper()
	e.expect(r, http.StatusForbidden, "DENIED")
	var eb errorBody
	if err := json.Unmarshal(r.body, &eb); err != nil {
		e.t.Fatal(err)
	}
	if msg := eb.Errors[0].Message; !strings.HasPrefix(msg, "adding "+adding+" of storage resource, which when updated to current usage of ") ||
		!strings.Contains(msg, " will exceed the configured upper limit of ") {
		e.t.Fatalf("message %q", msg)
	}
}

func TestQuotaBlobUploads(t *testing.T) {
	e, _ := quotaEnv(t, 100, Options{})
	small := bytes.Repeat([]byte{'a'}, 60)
	e.pushBlob("p/a", small)
	if n := e.used("p"); n != 60 {
		t.Fatalf("used %d after a 60-byte blob", n)
	}
	// Monolithic, past the limit: refused before the bytes are read.
	big := bytes.Repeat([]byte{'b'}, 50)
	bd := digest.FromBytes(big)
	e.denied(e.do("POST", "/v2/p/a/blobs/uploads/?digest="+string(bd), bytes.NewReader(big)), "50 B")
	e.expect(e.do("HEAD", "/v2/p/a/blobs/"+string(bd), nil), http.StatusNotFound, "")
	// Chunked: the bytes arrive, the final PUT is refused, nothing is
	// charged and the session is gone.
	r := e.do("POST", "/v2/p/a/blobs/uploads/", nil)
	e.expect(r, http.StatusAccepted, "")
	loc := r.header.Get("Location")
	e.expect(e.do("PATCH", loc, bytes.NewReader(big), "Content-Type", "application/octet-stream"), http.StatusAccepted, "")
	if n := e.used("p"); n != 60 {
		t.Fatalf("an upload in progress is charged: used %d", n)
	}
	e.denied(e.do("PUT", loc+"?digest="+string(bd), nil), "50 B")
	e.expect(e.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	e.expect(e.do("HEAD", "/v2/p/a/blobs/"+string(bd), nil), http.StatusNotFound, "")
	if n := e.used("p"); n != 60 {
		t.Fatalf("a refused upload is charged: used %d", n)
	}
	if files := e.uploadFiles(); len(files) != 0 {
		t.Fatalf("a refused upload left %v", files)
	}
	// A blob the project holds costs nothing, even full; exactly up to the
	// limit is accepted.
	e.pushBlob("p/b", small)
	e.pushBlob("p/b", bytes.Repeat([]byte{'c'}, 40))
	if n := e.used("p"); n != 100 {
		t.Fatalf("used %d, want 100", n)
	}
	// A mount from another project past the limit is refused; other
	// projects are not limited by p's quota.
	od := e.pushBlob("q/x", []byte("other"))
	e.denied(e.do("POST", "/v2/p/a/blobs/uploads/?mount="+string(od)+"&from=q/x", nil), "5 B")
	e.expect(e.do("HEAD", "/v2/p/a/blobs/"+string(od), nil), http.StatusNotFound, "")
}

func TestQuotaFullProjectRefusesUploads(t *testing.T) {
	e, p := quotaEnv(t, meta.UnlimitedStorage, Options{})
	e.pushBlob("p/a", bytes.Repeat([]byte{'a'}, 60))
	// The limit lowered below the usage: a new upload fails at once.
	if err := e.meta.SetStorageLimit(context.Background(), p.ID, 50); err != nil {
		t.Fatal(err)
	}
	e.denied(e.do("POST", "/v2/p/a/blobs/uploads/", nil), "0 B")
	// Deleting frees the project.
	d := digest.FromBytes(bytes.Repeat([]byte{'a'}, 60))
	e.expect(e.do("DELETE", "/v2/p/a/blobs/"+string(d), nil), http.StatusAccepted, "")
	e.expect(e.do("POST", "/v2/p/a/blobs/uploads/", nil), http.StatusAccepted, "")
}

func TestQuotaManifestPut(t *testing.T) {
	e, p := quotaEnv(t, meta.UnlimitedStorage, Options{})
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer")
	cd, ld := e.pushBlob("p/a", cfg), e.pushBlob("p/a", layer)
	blobs := int64(len(cfg) + len(layer))
	man := imageManifest(cd, int64(len(cfg)), ld, int64(len(layer)))
	if err := e.meta.SetStorageLimit(context.Background(), p.ID, blobs+int64(len(man))-1); err != nil {
		t.Fatal(err)
	}
	r := e.do("PUT", "/v2/p/a/manifests/v1", bytes.NewReader(man), "Content-Type", oci.MediaTypeImageManifest)
	e.denied(r, itoa(int64(len(man)))+" B")
	e.expect(e.do("GET", "/v2/p/a/manifests/v1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	if n := e.used("p"); n != blobs {
		t.Fatalf("used %d after a refused manifest, want %d", n, blobs)
	}
	if err := e.meta.SetStorageLimit(context.Background(), p.ID, blobs+int64(len(man))); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("PUT", "/v2/p/a/manifests/v1", bytes.NewReader(man), "Content-Type", oci.MediaTypeImageManifest), http.StatusCreated, "")
	if n := e.used("p"); n != blobs+int64(len(man)) {
		t.Fatalf("used %d, want %d", n, blobs+int64(len(man)))
	}
	// Deleting the manifest releases it and its blobs at once; the blobs
	// stay readable until garbage collection.
	md := digest.FromBytes(man)
	e.expect(e.do("DELETE", "/v2/p/a/manifests/"+string(md), nil), http.StatusAccepted, "")
	if n := e.used("p"); n != 0 {
		t.Fatalf("used %d after the delete, want 0", n)
	}
	e.expect(e.do("HEAD", "/v2/p/a/blobs/"+string(ld), nil), http.StatusOK, "")
	// Pushed again without uploads: charged again.
	e.expect(e.do("PUT", "/v2/p/a/manifests/v1", bytes.NewReader(man), "Content-Type", oci.MediaTypeImageManifest), http.StatusCreated, "")
	if n := e.used("p"); n != blobs+int64(len(man)) {
		t.Fatalf("used %d, want %d", n, blobs+int64(len(man)))
	}
}

// TestQuotaAbandonedUpload: an upload session that is never completed is
// charged nothing, before it expires and after.
func TestQuotaAbandonedUpload(t *testing.T) {
	e, _ := quotaEnv(t, 1000, Options{UploadTTL: time.Millisecond})
	r := e.do("POST", "/v2/p/a/blobs/uploads/", nil)
	e.expect(r, http.StatusAccepted, "")
	e.expect(e.do("PATCH", r.header.Get("Location"), bytes.NewReader(make([]byte, 900)), "Content-Type", "application/octet-stream"),
		http.StatusAccepted, "")
	if n := e.used("p"); n != 0 {
		t.Fatalf("used %d during an upload", n)
	}
	time.Sleep(5 * time.Millisecond)
	if n, err := e.reg.SweepUploads(context.Background(), time.Hour); err != nil || n != 1 {
		t.Fatalf("SweepUploads = %d, %v", n, err)
	}
	if n := e.used("p"); n != 0 {
		t.Fatalf("used %d after the session expired", n)
	}
	// The whole limit is still there.
	e.pushBlob("p/a", make([]byte, 1000))
}
