package metrics

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind is the class of a request's route: the only part of its path a
// label carries, so the series stay bounded whatever names clients use.
type Kind uint8

// Route kinds.
const (
	KindManifest Kind = iota
	KindBlob
	KindUpload
	KindTags
	KindReferrers
	KindCatalog
	KindToken
	KindAPI
	KindUI
	KindOther
	nKinds
)

var kindNames = [nKinds]string{"manifest", "blob", "upload", "tags", "referrers", "catalog", "token", "api", "ui", "other"}

func (k Kind) String() string { return kindNames[k] }

// Classify returns the kind of a request path, with a few comparisons
// and no allocation. The /v2 path's repository name may contain '/', so
// it looks at the last two segments, as the registry's router does.
func Classify(path string) Kind {
	switch {
	case strings.HasPrefix(path, "/v2/"):
		return classifyV2(path[len("/v2/"):])
	case strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/c/"):
		return KindAPI
	case path == "/service/token":
		return KindToken
	case path == "/v2" || path == "/livez" || path == "/readyz" || path == "/metrics":
		return KindOther
	}
	return KindUI
}

func classifyV2(rest string) Kind {
	if rest == "_catalog" {
		return KindCatalog
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return KindOther // the /v2/ version check
	}
	last, head := rest[i+1:], rest[:i]
	j := strings.LastIndexByte(head, '/')
	if j < 0 {
		return KindOther // no repository name before the keyword
	}
	switch head[j+1:] {
	case "manifests":
		return KindManifest
	case "blobs":
		if last == "uploads" {
			return KindUpload
		}
		return KindBlob
	case "uploads":
		if strings.HasSuffix(head[:j], "/blobs") {
			return KindUpload
		}
	case "tags":
		if last == "list" {
			return KindTags
		}
	case "referrers":
		return KindReferrers
	}
	return KindOther
}

const nMethods = 8

var methodNames = [nMethods]string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "other"}

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPut:
		return 2
	case http.MethodPost:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	}
	return 7
}

const nClasses = 5

var classNames = [nClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func classIndex(code int) int {
	return min(max(code/100-1, 0), nClasses-1)
}

// HTTP is the request metrics and the middleware that records them.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec

	// cells caches the children of each label combination, made on first
	// use: a request then costs no label hashing and no allocation.
	cells [nKinds][nMethods][nClasses]atomic.Pointer[cell]
	in    [nKinds]prometheus.Counter
	out   [nKinds]prometheus.Counter
}

type cell struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newHTTP() *HTTP {
	labels := []string{"kind", "method", "code"}
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_http_requests_total",
			Help: "HTTP requests answered, by route kind, method and status class."}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "berth_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (to the end of its body), by route kind, method and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, labels),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "berth_http_requests_in_flight",
			Help: "HTTP requests being answered."}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_http_request_bytes_total",
			Help: "Request body bytes read, by route kind."}, []string{"kind"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_http_response_bytes_total",
			Help: "Response body bytes written, by route kind."}, []string{"kind"}),
	}
	for k := range nKinds {
		h.in[k] = h.bytesIn.WithLabelValues(kindNames[k])
		h.out[k] = h.bytesOut.WithLabelValues(kindNames[k])
	}
	return h
}

func (h *HTTP) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.requests, h.duration, h.inFlight, h.bytesIn, h.bytesOut}
}

func (h *HTTP) cell(k Kind, m, c int) *cell {
	p := &h.cells[k][m][c]
	if x := p.Load(); x != nil {
		return x
	}
	lv := []string{kindNames[k], methodNames[m], classNames[c]}
	x := &cell{requests: h.requests.WithLabelValues(lv...), duration: h.duration.WithLabelValues(lv...)}
	p.CompareAndSwap(nil, x) // a racing request made the same children
	return p.Load()
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

// Middleware records every request to next. It goes outermost, so the
// figures include the other middleware's answers (limits, panics).
//
// The request body is counted by replacing r.Body on the request given,
// as internal/httplimit does: net/http decides how to finish an unread
// body by its concrete type, so the original is put back as soon as the
// response starts, and again when next returns.
func (h *HTTP) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := Classify(r.URL.Path)
		start := time.Now()
		h.inFlight.Inc()
		rec := recorders.Get().(*recorder)
		rec.ResponseWriter = w
		if r.Body != nil && r.Body != http.NoBody {
			rec.req, rec.body = r, countingBody{ReadCloser: r.Body}
			r.Body = &rec.body
		}
		defer h.done(rec, r, k, start)
		next.ServeHTTP(rec, r)
	})
}

// done records the request and returns the recorder to the pool; it runs
// deferred, so a panic on its way up is counted too.
func (h *HTTP) done(rec *recorder, r *http.Request, k Kind, start time.Time) {
	rec.restoreBody()
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	c := h.cell(k, methodIndex(r.Method), classIndex(code))
	c.requests.Inc()
	c.duration.Observe(time.Since(start).Seconds())
	if rec.body.n > 0 {
		h.in[k].Add(float64(rec.body.n))
	}
	if rec.bytes > 0 {
		h.out[k].Add(float64(rec.bytes))
	}
	h.inFlight.Dec()
	*rec = recorder{}
	recorders.Put(rec)
}

// recorder captures the status and counts the bytes of a response. It
// forwards ReadFrom, so that blobs served from files still reach
// sendfile, and Unwrap, for http.ResponseController.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
	// req, if set, is the request whose body was replaced by &body.
	req  *http.Request
	body countingBody
}

// restoreBody puts the request's own body back (see Middleware).
func (r *recorder) restoreBody() {
	if r.req != nil {
		r.req.Body, r.req = r.body.ReadCloser, nil
	}
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
		r.restoreBody()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
		r.restoreBody()
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.code == 0 {
		r.code = http.StatusOK
		r.restoreBody()
	}
	n, err := io.Copy(r.ResponseWriter, src) // the inner ReaderFrom
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// countingBody counts the request body bytes the handler reads.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
