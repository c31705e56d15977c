package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestClassify(t *testing.T) {
	for path, want := range map[string]Kind{
		"/v2/":                                 KindOther,
		"/v2":                                  KindOther,
		"/v2/_catalog":                         KindCatalog,
		"/v2/library/app/manifests/v1":         KindManifest,
		"/v2/a/b/c/manifests/sha256:abc":       KindManifest,
		"/v2/library/app/blobs/sha256:abc":     KindBlob,
		"/v2/library/app/blobs/uploads/":       KindUpload,
		"/v2/library/app/blobs/uploads":        KindUpload,
		"/v2/library/app/blobs/uploads/u-1":    KindUpload,
		"/v2/library/app/tags/list":            KindTags,
		"/v2/library/app/referrers/sha256:abc": KindReferrers,
		"/v2/manifests/x/tags/list":            KindTags, // a repository named like a keyword
		"/v2/library/manifests/blobs/sha256:a": KindBlob,
		"/v2/library/app/unknown/x":            KindOther,
		"/v2/uploads/x":                        KindOther,
		"/v2/library/app/tags/other":           KindOther,
		"/api/v2.0/projects":                   KindAPI,
		"/c/login":                             KindAPI,
		"/service/token":                       KindToken,
		"/livez":                               KindOther,
		"/readyz":                              KindOther,
		"/metrics":                             KindOther,
		"/":                                    KindUI,
		"/harbor/projects":                     KindUI,
	} {
		if got := Classify(path); got != want {
			t.Errorf("Classify(%q) = %s, want %s", path, got, want)
		}
	}
}

func TestClassifyAllocs(t *testing.T) {
	var k Kind
	if n := testing.AllocsPerRun(100, func() { k = Classify("/v2/library/app/blobs/uploads/u-1") }); n != 0 || k != KindUpload {
		t.Errorf("Classify allocates %v times", n)
	}
}

func counter(t *testing.T, r *Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// TestMiddleware checks the status class, bytes in and out, in-flight,
// and that the writer's optional interfaces still reach the server.
func TestMiddleware(t *testing.T) {
	r := New("test")
	h := r.HTTP.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if v, _ := counterNoT(r, "berth_http_requests_in_flight"); v != 1 {
			t.Errorf("in flight %v during a request", v)
		}
		b, _ := io.ReadAll(req.Body)
		switch req.Method {
		case http.MethodPut:
			w.WriteHeader(http.StatusCreated)
		case http.MethodDelete:
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("the recorder hides io.ReaderFrom")
		}
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the recorder hides http.Flusher")
		}
		_, _ = io.Copy(w, strings.NewReader(string(b)+"!"))
		if _, ok := req.Body.(*countingBody); ok {
			t.Error("the request's own body is not back once the response started (net/http looks at its type)")
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v2/p/r/blobs/uploads/u1", "12345"},
		{"GET", "/v2/p/r/manifests/v1", ""},
		{"DELETE", "/v2/p/r/manifests/v1", ""},
		{"BREW", "/coffee", ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"berth_http_requests_total", map[string]string{"kind": "upload", "method": "PUT", "code": "2xx"}, 1},
		{"berth_http_requests_total", map[string]string{"kind": "manifest", "method": "GET", "code": "2xx"}, 1},
		{"berth_http_requests_total", map[string]string{"kind": "manifest", "method": "DELETE", "code": "4xx"}, 1},
		{"berth_http_requests_total", map[string]string{"kind": "ui", "method": "other", "code": "2xx"}, 1},
		{"berth_http_request_duration_seconds", map[string]string{"kind": "upload", "method": "PUT", "code": "2xx"}, 1},
		{"berth_http_request_bytes_total", map[string]string{"kind": "upload"}, 5},
		{"berth_http_response_bytes_total", map[string]string{"kind": "upload"}, 6},
		{"berth_http_requests_in_flight", nil, 0},
	} {
		if got := counter(t, r, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func counterNoT(r *Registry, name string) (float64, error) {
	fams, err := r.Gatherer().Gather()
	for _, f := range fams {
		if f.GetName() == name && len(f.Metric) > 0 {
			return value(f.Metric[0]), err
		}
	}
	return -1, err
}

func TestAccess(t *testing.T) {
	r := New("test")
	admin := func(_ http.ResponseWriter, req *http.Request) bool { return req.Header.Get("X-Admin") == "yes" }
	for _, c := range []struct {
		name string
		a    Access
		hdr  []string
		want int
	}{
		{"anonymous", Access{Token: "t0123456789abcdef", Admin: admin}, nil, 401},
		{"token", Access{Token: "t0123456789abcdef"}, []string{"Authorization", "Bearer t0123456789abcdef"}, 200},
		{"wrong token", Access{Token: "t0123456789abcdef"}, []string{"Authorization", "Bearer t0123456789abcdeX"}, 401},
		{"no token set, empty bearer", Access{}, []string{"Authorization", "Bearer "}, 401},
		{"admin", Access{Admin: admin}, []string{"X-Admin", "yes"}, 200},
		{"public", Access{Public: true}, nil, 200},
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		w := httptest.NewRecorder()
		r.Guarded(c.a).ServeHTTP(w, req)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
	}
}

// BenchmarkMiddleware is the cost of measuring one request (a manifest
// GET) over the bare handler. Run with -benchmem: no allocation.
func BenchmarkMiddleware(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) })
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"off", ok}, {"on", New("bench").HTTP.Middleware(ok)}} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/v2/library/app/manifests/v1", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				w.Body.Reset()
				c.h.ServeHTTP(w, req)
			}
		})
	}
}

func BenchmarkClassify(b *testing.B) {
	var k Kind
	for b.Loop() {
		k = Classify("/v2/library/team/app/manifests/sha256:0123456789abcdef")
	}
	if k != KindManifest {
		b.Fatal(k)
	}
}
