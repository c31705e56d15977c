package app

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/metrics"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// scanning is the built-in scanner's wiring: the pull policy the
// registry asks, the scanner the API and the job queue run, and the
// watcher of the database reference and of pushes.
type scanning struct {
	policy  *scan.Policy
	scanner *scan.Scanner
	watch   *scan.Watch
	db      *vulndb.Manager
}

// newScanning builds the pull policy (before the registry, which asks it)
// and the scanner without its queue (register adds it).
func newScanning(cfg config.Config, store *sqlstore.Store, blobs blob.Store, acc *access, log *slog.Logger) *scanning {
	record := func(rec meta.AuditRecord) {
		if acc.sink != nil {
			acc.sink.Record(rec)
		}
	}
	db := &vulndb.Manager{Dir: filepath.Join(cfg.DataDir, "vulndb")}
	sc := &scan.Scanner{Store: store, Blobs: blobs, DB: db, Events: acc.events, Log: log.With("component", "scan"),
		Yield: &jobs.Yield{}, Layers: &catalog.LayerCache{}}
	repo, tag := cfg.Scan.VulnDBRepoTag()
	return &scanning{
		db:      db,
		scanner: sc,
		watch:   &scan.Watch{Scanner: sc, Repo: repo, Tag: tag, Audit: record},
		policy: &scan.Policy{Store: store, Log: log, BlockUnscanned: cfg.Scan.BlockUnscanned,
			Audit: func(ctx context.Context, rec meta.AuditRecord) {
				rec.Username = auth.FromContext(ctx).Name
				record(rec)
			}},
	}
}

// register gives the scanner the queue (its job kinds) and the registry
// (SBOM accessories), subscribes it to pushes, and makes sure the
// project of the database reference exists (private, owned by admin).
func (s *scanning) register(ctx context.Context, q *jobs.Queue, reg *registry.Registry, acc *access, log *slog.Logger) {
	s.scanner.Queue, s.scanner.SBOM = q, reg
	s.scanner.Register(q)
	s.watch.Subscribe(acc.events)
	if acc.store == nil {
		return
	}
	project := auth.ProjectOf(s.watch.Repo)
	if _, err := acc.store.GetProjectByName(ctx, project); !errors.Is(err, meta.ErrNotFound) {
		return
	}
	admin, err := acc.store.GetUserByName(ctx, "admin")
	if err != nil {
		return
	}
	if err := acc.store.CreateProject(ctx, &meta.Project{Name: project, OwnerID: admin.ID}); err != nil && !errors.Is(err, meta.ErrConflict) {
		log.Warn("creating the vulnerability database project", "project", project, "err", err)
	}
}

// run watches and refreshes until ctx ends, then closes the database.
func (s *scanning) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.watch.Run(ctx) })
	wg.Go(func() { s.policy.Run(ctx) })
	wg.Wait()
	_ = s.db.Close()
}

// scanPullPolicy is the registry's PullPolicy over the vulnerability
// policy (prevent_vul): its message becomes Harbor's 412.
type scanPullPolicy struct{ p *scan.Policy }

// CheckPull implements registry.PullPolicy.
func (s scanPullPolicy) CheckPull(req *http.Request, repo string, m *meta.Manifest) error {
	msg, err := s.p.CheckPull(req.Context(), repo, m)
	if err != nil || msg == "" {
		return err
	}
	return &meta.PolicyViolationError{Message: msg}
}

// pullPolicies asks each policy in turn; the first refusal wins.
type pullPolicies []registry.PullPolicy

// CheckPull implements registry.PullPolicy.
func (ps pullPolicies) CheckPull(req *http.Request, repo string, m *meta.Manifest) error {
	for _, p := range ps {
		if err := p.CheckPull(req, repo, m); err != nil {
			return err
		}
	}
	return nil
}

// registerMetrics adds berth_vulndb_age_seconds (deploy/prometheus's
// BerthVulnDBStale alert): the age of the active database's UpdatedAt;
// NaN while there is none (scanning not set up: no alert).
func (s *scanning) registerMetrics(m *metrics.Registry) {
	if m == nil {
		return
	}
	m.GaugeFunc("berth_vulndb_age_seconds", "Seconds since the active vulnerability database was built (its UpdatedAt); NaN without one.",
		func() float64 {
			_, md, ok := s.db.Active()
			if !ok || md.UpdatedAt.IsZero() {
				return math.NaN()
			}
			return time.Since(md.UpdatedAt).Seconds()
		})
}

// foregroundWrites tells y of the end of every request to h that is not
// a read (a push's uploads, manifest PUTs, deletes).
func foregroundWrites(h http.Handler, y *jobs.Yield) http.Handler {
	if y == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			y.Touch()
		}
	})
}
