// Package metrics exports berth's Prometheus metrics: HTTP traffic by
// route kind (never by path or repository: bounded cardinality), registry
// events by project, figures read from the database at scrape time
// (cached, one bounded query per family), database pools, login failures,
// certificate expiry, and the Go runtime and process. Names follow
// Harbor's exporter where it has an equivalent (harbor_project_*,
// harbor_artifact_pulled, harbor_up, harbor_task_queue_size), so Harbor
// dashboards keep working; the rest are berth_*.
//
// Features register their own gauges with Registry.GaugeFunc; scanning
// registers berth_vulndb_age_seconds this way (see README "Metrics").
package metrics

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds berth's collectors. The zero value is not usable: New.
type Registry struct {
	reg  *prometheus.Registry
	HTTP *HTTP
}

// New returns a registry with the Go runtime and process collectors,
// berth_build_info and the HTTP metrics.
func New(version string) *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "berth_build_info", Help: "Always 1; the version is a label.",
			ConstLabels: prometheus.Labels{"version": version}}, func() float64 { return 1 }),
	)
	r.HTTP = newHTTP()
	r.reg.MustRegister(r.HTTP.collectors()...)
	return r
}

// MustRegister adds collectors; it panics on a duplicate name, a
// programming error found by any test that starts berth.
func (r *Registry) MustRegister(cs ...prometheus.Collector) { r.reg.MustRegister(cs...) }

// GaugeFunc registers a gauge whose value fn returns at each scrape: the
// hook for features that own a figure (berth_vulndb_age_seconds from the
// vulnerability database updater). fn must be cheap and must not block.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// Gatherer is what the handler serves (tests read it directly).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in the Prometheus text format, without
// access control: for the separate --metrics-addr listener.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}

// Access says who may read /metrics on the main listener.
type Access struct {
	// Public lets anyone read it.
	Public bool
	// Token, if set, is accepted as "Authorization: Bearer TOKEN".
	Token string
	// Admin, if set, reports whether the request carries a system
	// administrator's credentials (Basic or a session).
	Admin func(http.ResponseWriter, *http.Request) bool
}

// Guarded is Handler behind a: 401 with a Bearer challenge when refused.
func (r *Registry) Guarded(a Access) http.Handler {
	h := r.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !a.allows(w, req) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="berth metrics"`)
			http.Error(w, "metrics: a metrics token or an administrator's credentials are required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	})
}

func (a Access) allows(w http.ResponseWriter, req *http.Request) bool {
	if a.Public {
		return true
	}
	if a.Token != "" {
		if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok &&
			subtle.ConstantTimeCompare([]byte(tok), []byte(a.Token)) == 1 {
			return true
		}
	}
	return a.Admin != nil && a.Admin(w, req)
}
