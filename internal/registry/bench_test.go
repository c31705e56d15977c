package registry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencontainers/go-digest"
)

// Handler-level benchmarks of the hot paths, without the network: what one
// request costs inside berth (routing, validation, one query, headers).

func benchGet(b *testing.B, e *testEnv, method, path string, want int) {
	b.Helper()
	req := httptest.NewRequest(method, path, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.reg.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
	}
}

func BenchmarkManifestGetByTag(b *testing.B) {
	e := newEnv(b, Options{})
	e.pushImage("bench/repo", "latest", []byte("layer"))
	benchGet(b, e, http.MethodGet, "/v2/bench/repo/manifests/latest", 200)
}

func BenchmarkManifestHeadByDigest(b *testing.B) {
	e := newEnv(b, Options{})
	d, _ := e.pushImage("bench/repo", "latest", []byte("layer"))
	benchGet(b, e, http.MethodHead, "/v2/bench/repo/manifests/"+string(d), 200)
}

func BenchmarkBlobHead(b *testing.B) {
	e := newEnv(b, Options{})
	d := e.pushBlob("bench/repo", []byte("some blob"))
	benchGet(b, e, http.MethodHead, "/v2/bench/repo/blobs/"+string(d), 200)
}

func BenchmarkBlobGet4K(b *testing.B) {
	e := newEnv(b, Options{})
	d := e.pushBlob("bench/repo", make([]byte, 4096))
	benchGet(b, e, http.MethodGet, "/v2/bench/repo/blobs/"+string(d), 200)
}

func BenchmarkParseRoute(b *testing.B) {
	p := "/v2/team/project/app/manifests/" + string(digest.FromString("x"))
	for b.Loop() {
		if parseRoute(p).kind != routeManifest {
			b.Fatal("bad route")
		}
	}
}
