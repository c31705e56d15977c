package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LoginCounts reads the login limiter's counters (auth.Limiter).
type LoginCounts struct {
	Failed, Locked, Refused func() int64
}

// RegisterLogins exports the login failures and lockouts of this
// process (each replica counts the attempts it sees).
func (r *Registry) RegisterLogins(c LoginCounts) {
	for _, m := range []struct {
		name, help string
		fn         func() int64
	}{
		{"berth_login_failures_total", "Failed login attempts (wrong password or unknown account).", c.Failed},
		{"berth_login_lockouts_total", "Lockouts begun: failures that locked an account from an address, or an address.", c.Locked},
		{"berth_login_refused_total", "Login attempts refused because the account or address was locked.", c.Refused},
	} {
		fn := m.fn
		r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help},
			func() float64 { return float64(fn()) }))
	}
}

// RegisterCertExpiry exports the seconds left before the TLS certificate
// berth serves expires; notAfter reports false until one is known, and
// the metric is then absent (not 0, which would look expired).
func (r *Registry) RegisterCertExpiry(notAfter func() (time.Time, bool)) {
	r.reg.MustRegister(certCollector(notAfter))
}

var dCertExpiry = desc("berth_tls_certificate_expiry_seconds",
	"Seconds until the served TLS certificate expires (negative: expired).")

type certCollector func() (time.Time, bool)

func (c certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dCertExpiry }

func (c certCollector) Collect(ch chan<- prometheus.Metric) {
	if t, ok := c(); ok {
		ch <- gauge(dCertExpiry, time.Until(t).Seconds())
	}
}
