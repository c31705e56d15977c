// Package app wires berth together and runs it: open the stores, serve
// HTTP, run background sweeps, and drain on shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/accesslog"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/forwarded"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/pullstats"
	"github.com/berth-registry/berth/internal/quota"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/settings"
)

// Version is set at build time with -ldflags "-X .../app.Version=...".
var Version = "dev"

// sweepEvery is how often abandoned uploads are looked for.
const sweepEvery = 10 * time.Minute

// NewLogger builds the process logger from the configuration.
func NewLogger(cfg config.Config, out *os.File) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(out, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(out, opts)
	}
	return slog.New(accesslog.Handler{Handler: h})
}

// Run serves until ctx is cancelled, then drains in-flight requests for up
// to cfg.ShutdownTimeout. ready, if not nil, receives the bound address.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(addr string)) error {
	start := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return err
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	metaStore, err := openMeta(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer metaStore.Close()
	blobStore, err := openBlobs(ctx, cfg, log)
	if err != nil {
		return err
	}
	blobStore = guardSharedDir(ctx, cfg, blobStore, metaStore, log)
	acc, err := setupAccess(ctx, cfg, metaStore, log)
	if err != nil {
		return err
	}
	defer acc.close()
	acc.events = events.New()
	metricsReg := newMetrics(cfg, metaStore, blobStore, acc, log) // nil with --metrics=false
	// Quota events: the store reports usage changes, the notifier turns
	// them into events off the request path; closed before the audit sink.
	quotaEvents := quota.NewNotifier(acc.quotaEvent, log)
	metaStore.SetUsageObserver(quotaEvents.Observe)
	defer quotaEvents.Close()
	st := settings.New(metaStore, log)
	if err := st.Refresh(ctx); err != nil {
		return fmt.Errorf("reading settings: %w", err)
	}
	acc.system = systemOptions(cfg, st, blobStore)
	// Pull statistics are gathered in memory and written every second;
	// deferred after the store's Close, this runs before it: what the
	// drained requests pulled is written on the way out.
	pulls := pullstats.New(metaStore, pullstats.Options{Logger: log})
	defer pulls.Close()
	acc.scan = newScanning(cfg, metaStore, blobStore, acc, log)
	acc.scan.registerMetrics(metricsReg)
	proxyCache, err := newProxyCache(ctx, cfg, metaStore, blobStore, acc, log)
	if err != nil {
		return err
	}
	acc.proxy = proxyCache
	signing, err := setupSigning(ctx, metaStore, blobStore, acc, log)
	if err != nil {
		return fmt.Errorf("reading signature policies: %w", err)
	}
	reg := registry.New(metaStore, blobStore, registry.Options{
		MaxManifestSize: cfg.MaxManifestSize,
		MaxBlobSize:     cfg.MaxBlobSize,
		DeleteEnabled:   cfg.DeleteEnabled,
		UploadTTL:       cfg.UploadTTL,
		Logger:          log,
		Authorizer:      acc.authorizer(),
		Audit:           acc.auditRegistry,
		RedirectTTL:     blobRedirectTTL(cfg),
		ReadOnly:        st.ReadOnly,
		Pulls:           pulls,
		Events:          acc.events,
		Proxy:           proxyCache,
		// Tag immutability: always on, as rules may be in the database
		// from a run with access control; one indexed query per push or
		// delete of a tag, none per pull.
		Tags: immutable.NewGuard(metaStore),
		// Pull policies: signatures, then vulnerabilities (prevent_vul);
		// neither costs a query for a project without its policy.
		PullPolicy: pullPolicies{signPolicy{signing, acc}, scanPullPolicy{acc.scan.policy}},
	})
	sweepAtStartup(ctx, cfg, reg, log)

	// Scans yield to pushes: the end of every write to /v2 is noted.
	v2 := foregroundWrites(reg, acc.scan.scanner.Yield)
	mux := http.NewServeMux()
	mux.Handle("/v2/", v2)
	mux.Handle("/v2", v2)
	if acc.gate != nil {
		mux.HandleFunc(auth.TokenPath, acc.gate.ServeToken)
	}
	holder := jobs.NewHolder()
	queue := newQueue(metaStore, holder, acc.events, log)
	registerGC(queue, metaStore, blobStore, reg)
	acc.scan.register(ctx, queue, reg, acc, log)
	if err := acc.mountAPI(mux, cfg, metaStore, blobStore, queue, log); err != nil {
		return err
	}
	acc.mountMetrics(mux, metricsReg, cfg)
	health := http.NewServeMux()
	health.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	health.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := metaStore.Ping(ctx); err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := pingBlobs(ctx, blobStore); err != nil {
			http.Error(w, "blob storage: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/livez", health)
	mux.Handle("/readyz", health)
	stopHealth, err := startHealth(cfg, health, log)
	if err != nil {
		return err
	}
	defer stopHealth()
	stopMetrics, err := startMetricsListener(cfg, metricsReg, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	tcpLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	ln := limitListener(tcpLn, cfg, log)
	tlsConfig, stopTLS, err := startTLS(cfg, ln.Addr(), log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopTLS()
	watchCert(metricsReg, tlsConfig)
	proxies, err := forwarded.ParseProxies(cfg.Proxy.TrustedProxies)
	if err != nil {
		ln.Close()
		return err
	}
	warnExposure(cfg, ln.Addr(), log)
	// No ReadTimeout or WriteTimeout: they would cut a long push or pull
	// that is making progress. limitHandler cuts transfers that stall,
	// and the listener caps the connections (internal/httplimit).
	srv := &http.Server{
		// forwarded first: the access log, the limiter and the audit log
		// see the client behind a trusted proxy.
		Handler: withMetrics(metricsReg,
			forwarded.Middleware(accesslog.Middleware(limitHandler(limitBodies(mux), cfg), log, cfg.AccessLog), proxies)),
		ConnContext:       ln.ConnContext,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serve(srv, ln) }()
	log.Info("berth listening", "addr", ln.Addr().String(), "tls", tlsMode(cfg), "data_dir", cfg.DataDir, "version", Version,
		"startup", time.Since(start).String())
	if ready != nil {
		ready(ln.Addr().String())
	}

	sweepCtx, stopSweeps := context.WithCancel(context.Background())
	sweepsDone := make(chan struct{})
	go func() {
		defer close(sweepsDone)
		runJobs(sweepCtx, &jobs.Runner{Leaser: metaStore, Holder: holder, Log: log}, queue, reg, acc, log)
	}()

	select {
	case err := <-serveErr:
		stopSweeps()
		<-sweepsDone
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopSweeps()
	<-sweepsDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// runJobs runs the periodic background jobs until ctx ends, each on one
// replica at a time, and the job queue with its scheduler (see
// internal/jobs).
// How much job history is kept (see job-prune in runJobs).
const (
	jobHistoryAge  = 30 * 24 * time.Hour
	jobHistoryKeep = 50
)

func runJobs(ctx context.Context, r *jobs.Runner, queue *jobs.Queue, reg *registry.Registry, acc *access, log *slog.Logger) {
	var wg sync.WaitGroup
	runQueue(ctx, &wg, queue, log)
	run := func(name string, first, every time.Duration, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Every(ctx, name, first, every, fn)
		}()
	}
	run("upload-sweep", sweepEvery, sweepEvery, func(ctx context.Context) error {
		n, err := reg.SweepUploads(ctx, time.Hour)
		if n > 0 {
			log.Info("removed abandoned uploads", "count", n)
		}
		return err
	})
	run("audit-prune", time.Minute, 6*time.Hour, func(ctx context.Context) error {
		return acc.pruneAudit(ctx, purgeScheduled(queue))
	})
	// Job history (GC, retention, scans, replication, webhook deliveries)
	// would otherwise grow without end: finished executions older than
	// jobHistoryAge go, except the newest jobHistoryKeep of each kind and
	// policy, which the API's history lists show.
	run("job-prune", 2*time.Minute, 6*time.Hour, func(ctx context.Context) error {
		n, err := queue.Store.PruneExecutions(ctx, time.Now().Add(-jobHistoryAge), jobHistoryKeep)
		if n > 0 {
			log.Info("pruned job history", "executions", n)
		}
		return err
	})
	if acc.registries != nil { // Harbor's registry health check
		run("registry-health", time.Minute, registryHealthEvery, acc.registries.CheckAll)
		wg.Go(func() { acc.replication.Run(ctx) }) // event_based policies
	}
	if acc.revoked != nil { // every replica reads every other's revocations
		wg.Go(func() { acc.revoked.Run(ctx) })
	}
	wg.Go(func() { acc.system.Settings.Run(ctx) }) // and every other's settings
	wg.Go(func() { acc.proxy.Run(ctx) })           // and proxy-cache projects
	if acc.webhooks != nil {
		wg.Go(func() { acc.webhooks.Run(ctx) })
	}
	wg.Go(func() { acc.scan.run(ctx) })
	wg.Wait()
}

// lockDataDir takes an exclusive flock on DIR/lock so that two processes
// never share one embedded data directory.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another berth process: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// warnExposure warns at start about settings that are fine on loopback
// but not on a network: plain HTTP (passwords and tokens in clear text),
// and no --external-url (token realms built from the local address).
func warnExposure(cfg config.Config, addr net.Addr, log *slog.Logger) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsLoopback() {
		return
	}
	if tlsMode(cfg) == "off" {
		log.Warn("serving plain HTTP on a non-loopback address: passwords and tokens cross the network in clear text; "+
			"use --tls-cert/--tls-key or --acme-domain, or a TLS-terminating proxy with --trusted-proxies", "addr", addr.String())
	}
	if cfg.Auth.Enabled && cfg.Proxy.ExternalURL == "" && cfg.Auth.TokenRealm == "" {
		log.Warn("--external-url is not set: token realms are built from the address each client connected to "+
			"(or from the Host a trusted proxy passes on); set it to the URL clients use", "addr", addr.String())
	}
}
