package scan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// DefaultVulnDBRef is where berth looks for the database: copy Aqua's
// artifact there (oras cp mirror.gcr.io/aquasec/trivy-db:2 HOST/berth-system/trivy-db:2).
const DefaultVulnDBRef = "berth-system/trivy-db:2"

// CheckEvery is how often the database reference is resolved again
// (besides the push event that names it).
const CheckEvery = 30 * time.Second

// Watch keeps the scanner's background work: the database reference is
// checked at start, on every push to its repository and every
// CheckEvery; pushes to projects with auto_scan or auto_sbom_generation
// start scans. It subscribes to bus and runs until ctx ends.
type Watch struct {
	Scanner *Scanner
	// Repo and Tag name the database artifact (--vulndb-ref).
	Repo, Tag string
	// Audit records database changes and refusals.
	Audit func(meta.AuditRecord)

	// CatchUpAfter and CatchUpEvery time the catch-up (0: defaults).
	CatchUpAfter, CatchUpEvery time.Duration

	pushes  chan events.Event
	check   chan struct{}
	refused string // the last digest refused, so it is reported once
}

// Catch-up: a push's scan is queued from its event, which lives in
// memory; a crash between the push and the queueing (at most
// pushBatchWait), or a queue full, loses it. The catch-up finds what
// auto_scan projects received in the last CatchUpWindow without a report
// and queues it, CatchUpAfter the start and every CatchUpEvery.
const (
	CatchUpAfter  = 30 * time.Second
	CatchUpEvery  = 10 * time.Minute
	CatchUpWindow = 24 * time.Hour
	catchUpLimit  = 2000
)

// Subscribe connects w to the bus; call before Run.
func (w *Watch) Subscribe(bus *events.Bus) {
	w.pushes = make(chan events.Event, 4096)
	w.check = make(chan struct{}, 1)
	bus.Subscribe(func(_ context.Context, e events.Event) {
		if e.Repo == w.Repo {
			select {
			case w.check <- struct{}{}:
			default:
			}
			return
		}
		select {
		case w.pushes <- e:
		default:
			w.Scanner.Log.Warn("scan on push: queue full, push not scanned (scan-all will)", "repo", e.Repo, "digest", e.Digest)
		}
	}, events.PushArtifact)
}

// Run works until ctx ends.
func (w *Watch) Run(ctx context.Context) {
	if w.check == nil {
		w.check = make(chan struct{}, 1)
	}
	t := time.NewTicker(CheckEvery)
	defer t.Stop()
	catchUp := time.NewTimer(cmp.Or(w.CatchUpAfter, CatchUpAfter))
	defer catchUp.Stop()
	w.checkDB(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-catchUp.C:
			w.catchUp(ctx)
			catchUp.Reset(cmp.Or(w.CatchUpEvery, CatchUpEvery))
		case <-t.C:
			w.checkDB(ctx)
		case <-w.check:
			w.checkDB(ctx)
		case e := <-w.pushes:
			w.onPushes(ctx, events.Gather(ctx, w.pushes, []events.Event{e}, pushBatchWait, maxPushBatch), false)
		}
	}
}

func (w *Watch) checkDB(ctx context.Context) {
	if _, err := w.Scanner.InstallRef(ctx, w.Repo, w.Tag, w); err != nil && !errors.Is(err, meta.ErrManifestNotFound) &&
		!errors.Is(err, meta.ErrRepoNotFound) && !errors.Is(err, meta.ErrTagNotFound) && !vulndb.IsInvalid(err) {
		w.Scanner.Log.Warn("checking the vulnerability database", "ref", w.Repo+":"+w.Tag, "err", err)
	}
}

func (w *Watch) audit(op, resource string, ok bool) {
	if w.Audit != nil {
		w.Audit(meta.AuditRecord{Username: "berth", Operation: op, ResourceType: "vulnerability_database", Resource: resource,
			Project: events.ProjectOf(w.Repo), Success: ok})
	}
}

// InstallRef makes the database at repo:tag active if it is not yet,
// and starts a re-match when the registry-wide choice changed. w (may be
// nil) is told, for the audit log.
func (s *Scanner) InstallRef(ctx context.Context, repo, tag string, w *Watch) (bool, error) {
	m, err := s.Store.GetManifest(ctx, repo, tag, true)
	if err != nil {
		return false, err
	}
	layer, err := dbLayer(m)
	if err != nil {
		return false, err
	}
	if cur, _, ok := s.DB.Active(); ok && cur == string(layer) {
		return false, nil
	}
	if w != nil && w.refused == string(layer) {
		return false, nil
	}
	db, err := s.DB.Install(string(layer), func() (io.ReadCloser, error) { return s.Blobs.Open(ctx, layer) })
	if err != nil {
		if vulndb.IsInvalid(err) && w != nil {
			w.refused = string(layer)
			s.Log.Error("vulnerability database refused; the previous one stays active", "ref", repo+":"+tag, "layer", layer, "err", err)
			w.audit("refuse", repo+"@"+string(m.Digest)+": "+err.Error(), false)
		}
		return false, err
	}
	s.Log.Info("vulnerability database active", "layer", layer, "updated_at", db.Meta().UpdatedAt,
		"platforms", db.Platforms, "vulnerabilities", db.Vulnerabilities)
	changed, err := s.Store.SetVulnDB(ctx, meta.VulnDBState{Digest: string(layer), UpdatedAt: db.Meta().UpdatedAt, ImportedAt: time.Now()})
	if err != nil {
		return false, err
	}
	if changed {
		if w != nil {
			w.audit("import", repo+"@"+string(m.Digest), true)
		}
		if _, err := s.Queue.Enqueue(ctx, KindRematch, 0, meta.TriggerEvent, nil, false); err != nil && !errors.Is(err, meta.ErrConflict) {
			return true, err
		}
	}
	return changed, nil
}

// dbLayer finds the database layer of the artifact m.
func dbLayer(m *meta.Manifest) (digest.Digest, error) {
	var doc manifestDoc
	if err := json.Unmarshal(m.Body, &doc); err != nil {
		return "", err
	}
	for _, l := range doc.Layers {
		if l.MediaType == vulndb.LayerMediaType {
			return l.Digest, nil
		}
	}
	return "", errors.New("the artifact has no layer of type " + vulndb.LayerMediaType)
}

// pushBatchWait is how long the first push of a burst waits for others,
// and maxPushBatch how many at most are queued together: their scans are
// written in one transaction, not two per push (on SQLite, the writes a
// push itself waits for).
const (
	pushBatchWait = 100 * time.Millisecond
	maxPushBatch  = 256
)

// catchUp queues the scans on push that were lost (see CatchUpAfter).
func (w *Watch) catchUp(ctx context.Context) {
	cs, err := w.Scanner.Store.UnscannedSince(ctx, time.Now().Add(-CatchUpWindow), catchUpLimit)
	if err != nil {
		w.Scanner.Log.Warn("scan on push: looking for artifacts left unscanned", "err", err)
		return
	}
	var lost []events.Event
	for _, c := range cs {
		if c.Repo != w.Repo {
			lost = append(lost, events.Event{Repo: c.Repo, Digest: c.Digest, MediaType: c.MediaType})
		}
	}
	w.onPushes(ctx, lost, true)
}

// onPushes starts the scans the pushes ask for; vulnOnly, only the
// vulnerability scans (the catch-up: an artifact without a report may
// well have its SBOM).
func (w *Watch) onPushes(ctx context.Context, pushes []events.Event, vulnOnly bool) {
	s := w.Scanner
	projects := map[string]*pushProject{} // nil: no scan on push
	var wants []Want
	for _, e := range pushes {
		if e.Digest == "" || strings.HasPrefix(e.MediaType, "application/vnd.aquasec") {
			continue
		}
		name := events.ProjectOf(e.Repo)
		p, seen := projects[name]
		if !seen {
			p = w.scanOnPush(ctx, name)
			projects[name] = p
		}
		if p == nil {
			continue
		}
		m, err := s.Store.GetManifest(ctx, e.Repo, string(e.Digest), true)
		if err != nil || !Scannable(m) {
			continue
		}
		if p.pending >= MaxPendingPerProject {
			s.Log.Warn("scan on push: the project has too many scans waiting; this push is left to scan-all",
				"project", name, "pending", p.pending, "digest", e.Digest)
			continue
		}
		p.pending++
		if p.md["auto_scan"] == "true" {
			wants = append(wants, Want{ProjectID: p.id, Manifest: m, Type: TypeVulnerability, Trigger: meta.TriggerEvent})
		}
		if p.md["auto_sbom_generation"] == "true" && !vulnOnly {
			wants = append(wants, Want{ProjectID: p.id, Manifest: m, Type: TypeSBOM, Trigger: meta.TriggerEvent,
				Format: projectFormat(p.md)})
		}
	}
	if len(wants) == 0 {
		return
	}
	if _, err := s.EnqueueAll(ctx, wants); err != nil {
		s.Log.Warn("scan on push", "scans", len(wants), "err", err)
	}
}

// pushProject is what onPushes needs of a project that scans or makes
// SBOMs on push.
type pushProject struct {
	id      int64
	md      map[string]string
	pending int64 // its scans waiting in the queue
}

// scanOnPush returns project name if it scans or makes SBOMs on push,
// else nil.
func (w *Watch) scanOnPush(ctx context.Context, name string) *pushProject {
	s := w.Scanner
	p, err := s.Store.GetProjectByName(ctx, name)
	if err != nil {
		return nil
	}
	set, err := s.Store.ProjectSettings(ctx, p.ID)
	if err != nil || set[p.ID] == nil {
		return nil
	}
	md := set[p.ID].Metadata
	if md["auto_scan"] != "true" && md["auto_sbom_generation"] != "true" {
		return nil
	}
	n, err := s.PendingScans(ctx, p.ID)
	if err != nil {
		s.Log.Warn("scan on push: counting the project's waiting scans", "project", name, "err", err)
		return nil
	}
	return &pushProject{id: p.ID, md: md, pending: n}
}

// projectFormat is the SBOM format of a project's metadata md (the API
// accepts only known ones; CycloneDX otherwise).
func projectFormat(md map[string]string) sbom.Format {
	f, err := sbom.ParseFormat(md[SBOMFormatKey])
	if err != nil {
		return sbom.CycloneDX
	}
	return f
}
