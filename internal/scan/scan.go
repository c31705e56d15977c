// Package scan is berth's built-in vulnerability scanner: it catalogues
// an artifact's layers from the blob store (scan/catalog), keeps the
// package list, matches it against the active Trivy database
// (scan/vulndb, scan/match) and stores the report by manifest digest. A
// new database re-matches every stored package list without reading a
// layer. Scans are jobs of internal/jobs (leased, they survive a
// restart); pulls are checked against a project's prevent_vul policy
// (policy.go); SBOMs are written as accessories (sbom.go).
package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// Job kinds.
const (
	KindScan    = "scan"         // one artifact (vulnerabilities or SBOM)
	KindRematch = "scan_rematch" // every stored package list against the active database
)

// Scan types of Harbor's ScanType.
const (
	TypeVulnerability = "vulnerability"
	TypeSBOM          = "sbom"
)

// Scanner identity, as /scanners and reports show it.
const (
	ScannerName    = "berth"
	ScannerVendor  = "berth"
	ScannerVersion = "1.0"
)

// ErrNotScannable: the artifact has no layers berth can read (Harbor's
// 422).
var ErrNotScannable = errors.New("the artifact cannot be scanned")

// MaxPendingPerProject bounds the scans on push one project may have
// waiting: a project pushing thousands of images at once does not bury
// the others' scans (the queue runs them in order). Pushes beyond it are
// not scanned on push; the next scan-all scans them.
const MaxPendingPerProject = 200

// PendingScans counts project's scans waiting in the queue.
func (s *Scanner) PendingScans(ctx context.Context, projectID int64) (int64, error) {
	q := meta.ListQuery{Page: meta.Page{Page: 1, Size: 1}}.With(meta.Cond{Key: "status", Op: meta.Equal, Values: []string{meta.JobPending}})
	_, n, err := s.Queue.Store.ListExecutions(ctx, meta.ExecutionQuery{Kind: KindScan, VendorID: projectID, ListQuery: q})
	return n, err
}

// Store is what the scanner reads and writes.
type Store interface {
	meta.ScanStore
	GetManifest(ctx context.Context, repo, ref string, withBody bool) (*meta.Manifest, error)
	GetProjectByName(ctx context.Context, name string) (*meta.Project, error)
	ProjectSettings(ctx context.Context, ids ...int64) (map[int64]*meta.ProjectSettings, error)
}

// Scanner runs scans and re-matches.
type Scanner struct {
	Store  Store
	Blobs  blob.Store
	DB     *vulndb.Manager
	Queue  *jobs.Queue
	Events *events.Bus
	Log    *slog.Logger
	// SBOM pushes an SBOM accessory (nil: SBOM scans fail).
	SBOM SBOMWriter
	// Layers, if set, keeps what layers hold: an image on a base already
	// scanned reads only its own layers.
	Layers *catalog.LayerCache
	// Yield, if set, holds scans back while pushes go on (see jobs.Yield):
	// a push never waits for a scan's writes.
	Yield *jobs.Yield
}

// params are a scan job's.
type params struct {
	Repo     string        `json:"repo"`
	Digest   digest.Digest `json:"digest"`
	ReportID string        `json:"report_id"`
	Type     string        `json:"type"`
	// Format is an SBOM's (TypeSBOM only; "" in jobs queued before
	// formats existed: CycloneDX).
	Format sbom.Format `json:"format,omitempty"`
}

// Register adds the job kinds to q.
func (s *Scanner) Register(q *jobs.Queue) {
	var opts []jobs.Option
	if s.Yield != nil {
		opts = append(opts, jobs.YieldTo(s.Yield))
	}
	q.Register(KindScan, s.runScan, opts...)
	q.Register(KindRematch, s.runRematch, jobs.Exclusive())
	q.Register(KindScanAll, s.runScanAll, jobs.Exclusive())
}

// stored is the package list kept per digest: a catalogue, or for an
// index the children it summarises.
type stored struct {
	catalog.Result
	Children []digest.Digest `json:"children,omitempty"`

	// unsaved is the package list as read, not yet stored: matchAndStore
	// stores it with the report, in one write.
	unsaved *meta.ScanCatalogue
}

// manifestDoc is what scanning reads from a manifest or index.
type manifestDoc struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Layers []struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
	} `json:"layers"`
	Manifests []struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
	} `json:"manifests"`
}

func isImageConfig(mt string) bool {
	return mt == "application/vnd.oci.image.config.v1+json" || mt == "application/vnd.docker.container.image.v1+json"
}

// Scannable reports whether m can be scanned: an image, or an index.
func Scannable(m *meta.Manifest) bool {
	var doc manifestDoc
	if json.Unmarshal(m.Body, &doc) != nil {
		return false
	}
	return len(doc.Manifests) > 0 || (isImageConfig(doc.Config.MediaType) && len(doc.Layers) > 0)
}

// Enqueue starts the scan w wants (its project is the execution's vendor
// id: pending scans are counted per project). The report becomes Pending
// at once, keeping the last result. It returns the report id, or
// ErrNotScannable.
func (s *Scanner) Enqueue(ctx context.Context, w Want) (string, error) {
	if !Scannable(w.Manifest) {
		return "", ErrNotScannable
	}
	ids, err := s.EnqueueAll(ctx, []Want{w})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// Want is a scan to start (see Enqueue).
type Want struct {
	ProjectID int64
	Manifest  *meta.Manifest // with its body
	Type      string         // TypeVulnerability ("" too) or TypeSBOM
	Trigger   string
	// Format is an SBOM's; "" is the project's sbom_format (SBOMFormatKey),
	// CycloneDX if it has none.
	Format sbom.Format
}

// EnqueueAll starts the scans of wants in one write transaction (scan on
// push gathers a burst of pushes into one) and returns their report ids
// ("" for an artifact that cannot be scanned). A digest waits in the
// queue once: a vulnerability scan of a digest already waiting, or
// wanted twice, adds no job and shares its report id.
func (s *Scanner) EnqueueAll(ctx context.Context, wants []Want) ([]string, error) {
	ids := make([]string, len(wants))
	queued := map[string]string{}
	formats := map[int64]sbom.Format{} // projects' sbom_format, read once
	var reqs []meta.ScanRequest
	for i, w := range wants {
		m, typ, format := w.Manifest, w.Type, w.Format
		if !Scannable(m) {
			continue
		}
		if typ == "" {
			typ = TypeVulnerability
		}
		if typ == TypeSBOM && format == "" {
			if format = formats[w.ProjectID]; format == "" {
				format = s.projectSBOMFormat(ctx, w.ProjectID)
				formats[w.ProjectID] = format
			}
		}
		key := typ + " " + string(format) + " " + string(m.Digest)
		if id, ok := queued[key]; ok {
			ids[i] = id
			continue
		}
		var r *meta.ScanReport
		if typ == TypeVulnerability {
			var err error
			if r, err = s.report(ctx, m.Digest); err != nil {
				return nil, err
			}
			if r.Status == meta.JobPending && r.ExecutionID != 0 {
				if e, err := s.Queue.Store.GetExecution(ctx, r.ExecutionID); err == nil && e.Status == meta.JobPending {
					ids[i], queued[key] = r.ReportID, r.ReportID
					continue
				}
			}
		}
		id := newReportID()
		e, err := s.Queue.NewExecution(KindScan, w.ProjectID, w.Trigger, params{Repo: m.Repo, Digest: m.Digest, ReportID: id, Type: typ, Format: format})
		if err != nil {
			return nil, err
		}
		req := meta.ScanRequest{Execution: e}
		if typ == TypeSBOM {
			req.SBOM = &meta.ScanSBOM{Digest: m.Digest, Repo: m.Repo, ReportID: id, Status: meta.JobPending}
		} else {
			r.ReportID, r.Status, r.StartTime, r.EndTime = id, meta.JobPending, time.Now(), time.Time{}
			req.Report = r
		}
		reqs = append(reqs, req)
		ids[i], queued[key] = id, id
	}
	if len(reqs) == 0 {
		return ids, nil
	}
	if err := s.Store.EnqueueScans(ctx, reqs); err != nil {
		return nil, err
	}
	s.Queue.Poke()
	return ids, nil
}

// report returns the stored report of d, or a new one.
func (s *Scanner) report(ctx context.Context, d digest.Digest) (*meta.ScanReport, error) {
	rs, err := s.Store.ScanReports(ctx, []digest.Digest{d})
	if err != nil {
		return nil, err
	}
	if r := rs[d]; r != nil {
		return r, nil
	}
	return &meta.ScanReport{Digest: d}, nil
}

// runScan is a scan job: catalogue (each child of an index), match, and
// store the report; its log is the scan log.
func (s *Scanner) runScan(ctx context.Context, run *jobs.Run) error {
	var p params
	if err := run.Params(&p); err != nil {
		return err
	}
	if p.Type == TypeSBOM {
		return s.runSBOM(ctx, run, p)
	}
	start := time.Now()
	running := s.markRunning(ctx, p, start)
	run.Log("scanning %s@%s", p.Repo, p.Digest)
	st, err := s.catalogue(ctx, run, p.Repo, p.Digest)
	running.end()
	if err == nil {
		err = s.matchAndStore(ctx, p.Digest, st, p.ReportID, start)
	}
	if err != nil {
		// A stop cancels ctx: the status is still written.
		wctx := context.WithoutCancel(ctx)
		if run.StopRequested() {
			run.Log("scan stopped")
			s.setStatus(wctx, p, meta.JobStopped, start, time.Now())
			s.publish(wctx, events.ScanningStopped, p)
			return err
		}
		run.Log("scan failed: %v", err)
		s.setStatus(wctx, p, meta.JobError, start, time.Now())
		s.publish(wctx, events.ScanningFailed, p)
		return err
	}
	run.Log("scan finished")
	s.publish(ctx, events.ScanningCompleted, p)
	return nil
}

func (s *Scanner) publish(ctx context.Context, t events.Type, p params) {
	if !s.Events.Wants(t) {
		return
	}
	e := events.Event{Type: t, Operator: ScannerName, Repo: p.Repo, Project: events.ProjectOf(p.Repo), Digest: p.Digest}
	if r, err := s.report(ctx, p.Digest); err == nil && r.ReportID != "" {
		e.Detail = scanDetail{r}
	}
	s.Events.Publish(events.WithInternal(ctx), e)
}

// scanDetail is a scan event's Detail: webhooks add its EventData, the
// report's overview in Harbor's keys, to event_data.
type scanDetail struct{ r *meta.ScanReport }

// EventData implements webhook.EventDataer.
func (d scanDetail) EventData() map[string]any {
	ov := map[string]any{"report_id": d.r.ReportID, "scan_status": d.r.Status, "complete_percent": 0,
		"scanner": map[string]string{"name": ScannerName, "vendor": ScannerVendor, "version": ScannerVersion}}
	if d.r.Status == meta.JobSuccess {
		ov["complete_percent"] = 100
	}
	if !d.r.StartTime.IsZero() {
		ov["start_time"] = d.r.StartTime.UTC().Format(time.RFC3339)
	}
	if !d.r.EndTime.IsZero() {
		ov["end_time"] = d.r.EndTime.UTC().Format(time.RFC3339)
		ov["duration"] = int64(d.r.EndTime.Sub(d.r.StartTime).Seconds())
	}
	if d.r.HasResult {
		counts := map[string]int{}
		_ = json.Unmarshal(d.r.Summary, &counts)
		ov["severity"] = d.r.Severity
		ov["summary"] = map[string]any{"total": d.r.Total, "fixable": d.r.Fixable, "summary": counts}
	}
	return map[string]any{"scan_overview": map[string]any{ReportMime: ov}}
}

// ReportMime is the vulnerability report type berth produces (Harbor's
// generic report v1.1), the key of scan overviews.
const ReportMime = "application/vnd.security.vulnerability.report; version=1.1"

// RunningAfter is how long a scan runs before its report says Running:
// most scans take milliseconds and go from Pending to their result
// without it, which saves the database a write per scan (on SQLite,
// writes are what pushes wait for).
const RunningAfter = time.Second

// runningMark writes a scan's Running status once RunningAfter passed.
type runningMark struct {
	t    *time.Timer
	mu   sync.Mutex
	done bool
}

func (s *Scanner) markRunning(ctx context.Context, p params, start time.Time) *runningMark {
	m := &runningMark{}
	m.t = time.AfterFunc(RunningAfter, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.done {
			s.setStatus(ctx, p, meta.JobRunning, start, time.Time{})
		}
	})
	return m
}

// end cancels the mark: once it returns, Running is not written (a write
// under way is waited for), so it cannot overwrite the result.
func (m *runningMark) end() {
	m.t.Stop()
	m.mu.Lock()
	m.done = true
	m.mu.Unlock()
}

// setStatus changes the status of p's report if it is still p's scan.
func (s *Scanner) setStatus(ctx context.Context, p params, status string, start, end time.Time) {
	r, err := s.report(ctx, p.Digest)
	if err != nil || (r.ReportID != "" && r.ReportID != p.ReportID) {
		return
	}
	r.ReportID, r.Status, r.StartTime, r.EndTime = p.ReportID, status, start, end
	if err := s.Store.PutScanReport(ctx, r); err != nil {
		s.Log.Warn("recording a scan status", "digest", p.Digest, "err", err)
	}
}

// catalogue reads the package list of repo@d (for an index, of each
// child it holds, whose results it stores). The list is stored by
// matchAndStore, or saveCatalogue.
func (s *Scanner) catalogue(ctx context.Context, run *jobs.Run, repo string, d digest.Digest) (*stored, error) {
	m, err := s.Store.GetManifest(ctx, repo, string(d), true)
	if err != nil {
		return nil, err
	}
	var doc manifestDoc
	if err := json.Unmarshal(m.Body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotScannable, err)
	}
	st := &stored{}
	var layers []digest.Digest
	switch {
	case len(doc.Manifests) > 0:
		for _, c := range doc.Manifests {
			cm, err := s.Store.GetManifest(ctx, repo, string(c.Digest), true)
			if err != nil || !Scannable(cm) {
				continue // a child pushed elsewhere, or an attestation
			}
			cst, err := s.catalogue(ctx, run, repo, c.Digest)
			if err != nil {
				return nil, err
			}
			if err := s.matchAndStore(ctx, c.Digest, cst, "", time.Now()); err != nil {
				return nil, err
			}
			st.Children = append(st.Children, c.Digest)
		}
	case isImageConfig(doc.Config.MediaType):
		cls := make([]catalog.Layer, len(doc.Layers))
		for i, l := range doc.Layers {
			layers = append(layers, l.Digest)
			cls[i] = catalog.Layer{Digest: string(l.Digest), Open: func(ctx context.Context) (io.ReadCloser, error) {
				return s.Blobs.Open(ctx, l.Digest)
			}}
		}
		res, err := catalog.CatalogueCached(ctx, cls, s.Layers)
		if err != nil {
			return nil, err
		}
		if run != nil {
			run.Log("%s: os %s %s, %d packages", d, res.OS.ID, res.OS.VersionID, len(res.Packages))
			if res.OS.ID != "" && !match.Supported(res.OS) {
				run.Log("%s: the packages of %s are not matched (no detector for it); its Go modules are", d, res.OS.ID)
			}
			for _, bi := range res.BuildInfos {
				run.Log("%s: Red Hat build information: content sets %q, build %q %q", d, bi.ContentSets, bi.NVR, bi.Arch)
			}
			for _, n := range res.Notes {
				run.Log("%s: %s", d, n)
			}
		}
		st.Result = res
	default:
		return nil, ErrNotScannable
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	st.unsaved = &meta.ScanCatalogue{Digest: d, Analyzer: catalog.Version, Data: b, Layers: layers}
	return st, nil
}

// saveCatalogue stores the package list st was read with, if not yet.
func (s *Scanner) saveCatalogue(ctx context.Context, st *stored) error {
	if st.unsaved == nil {
		return nil
	}
	c := st.unsaved
	if err := s.Store.PutCatalogue(ctx, c.Digest, c.Analyzer, c.Data, c.Layers); err != nil {
		return err
	}
	st.unsaved = nil
	return nil
}

// matchAndStore matches st against the active database and stores the
// result in d's report (reportID "" keeps the report's id), with st's
// package list if it was just read.
func (s *Scanner) matchAndStore(ctx context.Context, d digest.Digest, st *stored, reportID string, start time.Time) error {
	db, release := s.DB.Acquire()
	defer release()
	if db == nil {
		// The package list is kept: installing a database matches it
		// without reading the layers again.
		if err := s.saveCatalogue(ctx, st); err != nil {
			return err
		}
		return errors.New("no vulnerability database is installed: push one to the --vulndb-ref repository or run berth vulndb import")
	}
	var findings []match.Finding
	if len(st.Children) > 0 {
		rs, err := s.Store.ScanReports(ctx, st.Children)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, c := range st.Children {
			var fs []match.Finding
			if r := rs[c]; r != nil && r.HasResult {
				_ = json.Unmarshal(r.Findings, &fs)
			}
			for _, f := range fs {
				if k := f.ID + "\x00" + f.Package + "\x00" + f.Version; !seen[k] {
					seen[k] = true
					findings = append(findings, f)
				}
			}
		}
	} else {
		var err error
		if findings, err = match.Match(db, st.Result); err != nil {
			return err
		}
	}
	if findings == nil {
		findings = []match.Finding{}
	}
	r, err := s.report(ctx, d)
	if err != nil {
		return err
	}
	if reportID != "" {
		r.ReportID = reportID
	}
	if r.ReportID == "" {
		r.ReportID = newReportID()
	}
	fill(r, findings, db.Digest)
	r.Status, r.EndTime = meta.JobSuccess, time.Now()
	if r.StartTime.IsZero() || reportID != "" {
		r.StartTime = start
	}
	if err := s.Store.SaveScanResult(ctx, st.unsaved, r); err != nil {
		return err
	}
	st.unsaved = nil
	return nil
}

// fill sets the result fields of r from findings.
func fill(r *meta.ScanReport, findings []match.Finding, dbDigest string) {
	summary := map[string]int{}
	top := vulndb.Severity(-1)
	fixable := 0
	for _, f := range findings {
		summary[HarborSeverity(f.Severity)]++
		top = max(top, f.Severity)
		if f.FixVersion != "" {
			fixable++
		}
	}
	r.Severity = "None"
	if top >= 0 {
		r.Severity = HarborSeverity(top)
	}
	r.HasResult, r.VulnDB, r.Total, r.Fixable = true, dbDigest, len(findings), fixable
	r.Summary, _ = json.Marshal(summary)
	r.Findings, _ = json.Marshal(findings)
}

// HarborSeverity names a Trivy severity as Harbor does.
func HarborSeverity(s vulndb.Severity) string {
	switch s {
	case vulndb.SeverityLow:
		return "Low"
	case vulndb.SeverityMedium:
		return "Medium"
	case vulndb.SeverityHigh:
		return "High"
	case vulndb.SeverityCritical:
		return "Critical"
	}
	return "Unknown"
}

// Findings decodes a report's findings.
func Findings(r *meta.ScanReport) []match.Finding {
	var fs []match.Finding
	_ = json.Unmarshal(r.Findings, &fs)
	return fs
}
