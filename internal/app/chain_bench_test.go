package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-registry/berth/internal/accesslog"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/forwarded"
	"github.com/berth-registry/berth/internal/metrics"
)

// BenchmarkRequestChain measures what the middleware in front of every
// handler costs a GET (the hot path: manifest and blob reads): the chain
// berth had before the hardening (access log only) and the chain now
// (trusted proxies, access log, slow-client rules, body caps), with no
// trusted proxy configured and with one. Run with -benchmem.
func BenchmarkRequestChain(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) })
	cfg := config.Default()
	proxies, _ := forwarded.ParseProxies([]string{"10.0.0.0/8"})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"accesslog-only", accesslog.Middleware(ok, log, false)},
		{"full-chain", forwarded.Middleware(accesslog.Middleware(limitHandler(limitBodies(ok), cfg), log, false), forwarded.Proxies{})},
		{"full-chain-with-proxies", forwarded.Middleware(accesslog.Middleware(limitHandler(limitBodies(ok), cfg), log, false), proxies)},
		// --metrics (the default): the measuring middleware outermost.
		{"full-chain-with-metrics", withMetrics(metrics.New("bench"),
			forwarded.Middleware(accesslog.Middleware(limitHandler(limitBodies(ok), cfg), log, false), forwarded.Proxies{}))},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/v2/library/app/manifests/v1", nil)
			req.RemoteAddr = "192.0.2.1:1234"
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				w.Body.Reset()
				c.h.ServeHTTP(w, req)
			}
		})
	}
}
