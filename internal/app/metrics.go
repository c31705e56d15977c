package app

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/metrics"
)

// newMetrics builds the metrics registry (nil with --metrics=false): the
// registry events, the figures read from the database at scrape time,
// the database pools and the login limiter.
func newMetrics(cfg config.Config, store *sqlstore.Store, blobs blob.Store, acc *access, log *slog.Logger) *metrics.Registry {
	if !cfg.Metrics.Enabled {
		return nil
	}
	m := metrics.New(Version)
	m.SubscribeEvents(acc.events)
	o := metrics.StoreOptions{Store: store, TTL: cfg.Metrics.Cache, Pools: store.DBStats, Logger: log}
	if c, ok := blobs.(interface {
		Capacity() (total, free uint64, err error)
	}); ok {
		o.Capacity = c.Capacity
	}
	m.RegisterStore(o)
	if acc.authn != nil && acc.authn.Limiter != nil {
		l := acc.authn.Limiter
		m.RegisterLogins(metrics.LoginCounts{Failed: l.Failed.Load, Locked: l.Lockouts.Load, Refused: l.Refused.Load})
	}
	return m
}

// withMetrics measures every request to h (outermost, so the answers of
// the other middleware count too); h itself without metrics.
func withMetrics(m *metrics.Registry, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return m.HTTP.Middleware(h)
}

// mountMetrics serves /metrics on the main listener to holders of the
// --metrics-token, administrators, or anyone with --metrics-public.
func (a *access) mountMetrics(mux *http.ServeMux, m *metrics.Registry, cfg config.Config) {
	if m == nil {
		return
	}
	ac := metrics.Access{Public: cfg.Metrics.Public, Token: cfg.Metrics.Token}
	if a.api != nil {
		ac.Admin = a.api.IsAdmin
	}
	mux.Handle("/metrics", m.Guarded(ac))
}

// watchCert exports the expiry of the certificate the TLS config serves:
// the last one handed to a client (an atomic store per handshake), primed
// with the one served to a client that names no server.
func watchCert(m *metrics.Registry, tc *tls.Config) {
	if m == nil || tc == nil || tc.GetCertificate == nil {
		return
	}
	var notAfter atomic.Int64 // Unix seconds, 0: none yet
	get := tc.GetCertificate
	record := func(c *tls.Certificate) {
		if c != nil && c.Leaf != nil {
			notAfter.Store(c.Leaf.NotAfter.Unix())
		}
	}
	tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := get(hello)
		record(c)
		return c, err
	}
	if c, err := get(&tls.ClientHelloInfo{}); err == nil { // certificate files; ACME answers only named hosts
		record(c)
	}
	m.RegisterCertExpiry(func() (time.Time, bool) {
		s := notAfter.Load()
		return time.Unix(s, 0), s != 0
	})
}

// startMetricsListener serves /metrics alone, without access control, on
// --metrics-addr (meant for a private network or loopback).
func startMetricsListener(cfg config.Config, m *metrics.Registry, log *slog.Logger) (stop func(), err error) {
	if m == nil || cfg.Metrics.Addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	return serveSide("metrics", cfg.Metrics.Addr, mux, 16, 30*time.Second, log)
}
