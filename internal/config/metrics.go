package config

import (
	"flag"
	"fmt"
	"net"
	"time"
)

// Metrics configures /metrics (internal/metrics). Token must never be
// logged or quoted back.
type Metrics struct {
	Enabled bool          // collect and serve metrics at all
	Addr    string        // optional separate listener, no access control
	Token   string        // bearer token accepted on the main listener
	Public  bool          // main listener's /metrics open to anyone
	Cache   time.Duration // how long database figures are reused between scrapes
}

// DefaultMetrics: on, on the main listener for administrators only.
func DefaultMetrics() Metrics { return Metrics{Enabled: true, Cache: 10 * time.Second} }

func (m *Metrics) flags(fs *flag.FlagSet) {
	fs.BoolVar(&m.Enabled, "metrics", m.Enabled, "collect Prometheus metrics and serve /metrics (false: no request is measured)")
	fs.StringVar(&m.Addr, "metrics-addr", m.Addr, "optional plain-HTTP listener HOST:PORT serving only /metrics, without access control (keep it private)")
	fs.StringVar(&m.Token, "metrics-token", m.Token, "bearer `TOKEN` that may read /metrics on the main listener (prefer the environment variable BERTH_METRICS_TOKEN); administrators' credentials are accepted too")
	fs.BoolVar(&m.Public, "metrics-public", m.Public, "let anyone read /metrics on the main listener")
	fs.DurationVar(&m.Cache, "metrics-cache", m.Cache, "how long figures read from the database are reused between scrapes")
}

// validate names the first bad metrics setting; never quotes the token.
func (m *Metrics) validate() error {
	if m.Addr != "" {
		if _, _, err := net.SplitHostPort(m.Addr); err != nil {
			return fmt.Errorf("metrics-addr %q: %w", m.Addr, err)
		}
	}
	if m.Cache < time.Second || m.Cache > 5*time.Minute {
		return fmt.Errorf("metrics-cache %s: want between 1s and 5m", m.Cache)
	}
	if m.Token != "" && len(m.Token) < 16 {
		return fmt.Errorf("metrics-token: want at least 16 characters")
	}
	return nil
}
