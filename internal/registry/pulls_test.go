package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/pullstats"
)

// pullEnv is a registry whose pulls are counted by a recorder that only
// writes when flushed.
func pullEnv(t testing.TB) (*testEnv, *pullstats.Recorder) {
	t.Helper()
	var rec *pullstats.Recorder
	e := newEnv(t, Options{})
	rec = pullstats.New(e.meta, pullstats.Options{FlushEvery: time.Hour, MaxPending: 1 << 20})
	t.Cleanup(rec.Close)
	e.reg.opt.Pulls = rec
	return e, rec
}

// TestPullsCounted: a manifest GET by tag or digest counts; HEAD, a 304
// and a pull by berth's own (Uncounted) context do not.
func TestPullsCounted(t *testing.T) {
	e, rec := pullEnv(t)
	d, _ := e.pushImage("p/app", "v1", []byte("layer"))
	ctx := context.Background()
	e.expect(e.do("GET", "/v2/p/app/manifests/v1", nil), http.StatusOK, "")
	e.expect(e.do("GET", "/v2/p/app/manifests/"+string(d), nil), http.StatusOK, "")
	e.expect(e.do("HEAD", "/v2/p/app/manifests/v1", nil), http.StatusOK, "")
	e.expect(e.do("GET", "/v2/p/app/manifests/v1", nil, "If-None-Match", `"`+string(d)+`"`), http.StatusNotModified, "")
	e.expect(e.do("GET", "/v2/p/app/manifests/nope", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")

	own := httptest.NewRequestWithContext(pullstats.Uncounted(ctx), "GET", "/v2/p/app/manifests/v1", nil)
	w := httptest.NewRecorder()
	e.reg.ServeHTTP(w, own)
	if w.Code != http.StatusOK {
		t.Fatalf("berth's own pull: %d %s", w.Code, w.Body)
	}
	before := time.Now()
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ri, err := e.meta.Repository(ctx, "p/app")
	if err != nil || ri.PullCount != 2 {
		t.Fatalf("pull count %+v %v, want 2", ri, err)
	}
	a, err := e.meta.Artifact(ctx, "p/app", d)
	if err != nil || a.PulledAt.IsZero() || a.PulledAt.After(before) || len(a.Tags) != 1 || a.Tags[0].PulledAt.IsZero() {
		t.Fatalf("pull times: %+v %v", a, err)
	}
}

// BenchmarkManifestGetByTagCounted is BenchmarkManifestGetByTag with pulls
// counted: the recorder must add no allocation to the request.
func BenchmarkManifestGetByTagCounted(b *testing.B) {
	e, _ := pullEnv(b)
	e.pushImage("bench/repo", "latest", []byte("layer"))
	benchGet(b, e, http.MethodGet, "/v2/bench/repo/manifests/latest", 200)
}
