package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// BenchmarkPush is one image push, handler-level: the config blob (the
// same each time, so already in the repository), a new 4 KiB layer by a
// chunked upload (POST, PATCH, PUT) and a new manifest, into a project
// with a storage limit. It measures what quota accounting adds to a push.
func BenchmarkPush(b *testing.B) {
	e := newEnv(b, Options{})
	limit := int64(1 << 50)
	if err := e.meta.CreateProjectWith(context.Background(), &meta.Project{Name: "bench"},
		meta.ProjectChange{StorageLimit: &limit}); err != nil {
		b.Fatal(err)
	}
	const repo = "bench/repo"
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := digest.FromBytes(cfg)
	layer := make([]byte, 4096)
	serve := func(method, path string, body []byte, want int, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		e.reg.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		return w
	}
	b.ReportAllocs()
	n := uint64(0)
	for b.Loop() {
		n++
		binary.BigEndian.PutUint64(layer, n)
		ld := digest.FromBytes(layer)
		serve(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+string(cd), cfg, http.StatusCreated)
		loc := serve(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, http.StatusAccepted).Header().Get("Location")
		serve(http.MethodPatch, loc, layer, http.StatusAccepted, "Content-Type", "application/octet-stream")
		serve(http.MethodPut, loc+"?digest="+string(ld), nil, http.StatusCreated)
		man := imageManifest(cd, int64(len(cfg)), ld, int64(len(layer)))
		serve(http.MethodPut, "/v2/"+repo+"/manifests/"+string(digest.FromBytes(man)), man, http.StatusCreated,
			"Content-Type", oci.MediaTypeImageManifest)
	}
}
