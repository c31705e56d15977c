package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/httplimit"
)

// raiseOpenFileLimit lifts the soft RLIMIT_NOFILE to the hard limit and
// returns the limit in force (0 if unknown). The Go runtime already does
// this at start on Linux and macOS; doing it here too logs the number the
// connection cap is fitted to, and covers any runtime that does not.
func raiseOpenFileLimit(log *slog.Logger) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("reading the open-file limit", "err", err)
		return 0
	}
	was := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("raising the open-file limit", "soft", was, "hard", lim.Max, "err", err)
			lim.Cur = was
		}
	}
	log.Info("open-file limit", "soft", lim.Cur, "hard", lim.Max, "was", was)
	return lim.Cur
}

// connSlots fits --max-connections to nofile descriptors and sizes the
// reserve for health checks. Each client connection may hold its socket
// and one open file (a blob being served, an upload being written); a
// quarter of the limit, at most 256, stays for the database, the log, the
// other listeners and outgoing connections.
func connSlots(want int, nofile uint64) (maxConns, reserve int) {
	if nofile == 0 {
		return want, 32
	}
	headroom := min(nofile/4, 256)
	budget := int(min((nofile-headroom)/2, 1<<30))
	reserve = max(1, min(32, budget/8))
	return max(1, min(want, budget-reserve)), reserve
}

// isHealth: the requests served from the reserve beyond the cap.
func isHealth(r *http.Request) bool { return r.URL.Path == "/livez" || r.URL.Path == "/readyz" }

// limitListener caps ln as configured (see httplimit.Listener).
func limitListener(ln net.Listener, cfg config.Config, log *slog.Logger) *httplimit.Listener {
	maxConns, reserve := connSlots(cfg.Limits.MaxConnections, raiseOpenFileLimit(log))
	if maxConns < cfg.Limits.MaxConnections {
		log.Warn("max-connections lowered to fit the open-file limit", "configured", cfg.Limits.MaxConnections, "max_connections", maxConns)
	}
	log.Info("connection cap", "max_connections", maxConns, "health_reserve", reserve,
		"body_idle_timeout", cfg.Limits.BodyIdleTimeout.String(), "body_min_rate", cfg.Limits.BodyMinRate,
		"write_idle_timeout", cfg.Limits.WriteIdleTimeout.String())
	return httplimit.Limit(ln, maxConns, reserve)
}

// limitHandler applies the slow-client rules to every request of h.
func limitHandler(h http.Handler, cfg config.Config) http.Handler {
	return httplimit.Handler(h, httplimit.Options{
		BodyIdleTimeout:  cfg.Limits.BodyIdleTimeout,
		BodyMinRate:      cfg.Limits.BodyMinRate,
		WriteIdleTimeout: cfg.Limits.WriteIdleTimeout,
		Reserved:         isHealth,
	})
}

// startHealth serves /livez and /readyz on --health-addr, if set: a
// listener outside the main cap (with its own small one), for probes that
// must get through whatever clients do to the main listener. Its requests
// have no bodies and tiny answers, so whole-request timeouts fit.
func startHealth(cfg config.Config, health http.Handler, log *slog.Logger) (stop func(), err error) {
	if cfg.Limits.HealthAddr == "" {
		return func() {}, nil
	}
	return serveSide("health", cfg.Limits.HealthAddr, health, 64, 10*time.Second, log)
}

// serveSide serves h on its own plain-HTTP listener at addr (the health
// and metrics listeners): whole-request timeouts (small requests and
// answers), at most maxConns connections; stop shuts it down.
func serveSide(name, addr string, h http.Handler, maxConns int, writeTimeout time.Duration, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(httplimit.Limit(ln, maxConns, 0)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" listener stopped", "err", err)
		}
	}()
	log.Info(name+" listener", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
