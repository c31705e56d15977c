package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// reportMime is the report type berth produces, the key of scan_overview
// and of the vulnerabilities addition.
const reportMime = scan.ReportMime

// scanner is Harbor's Scanner.
type scannerInfo struct {
	Name    string `json:"name"`
	Vendor  string `json:"vendor"`
	Version string `json:"version"`
}

var builtinScanner = scannerInfo{Name: scan.ScannerName, Vendor: scan.ScannerVendor, Version: scan.ScannerVersion}

// nativeReportSummary is Harbor's NativeReportSummary.
type nativeReportSummary struct {
	ReportID        string         `json:"report_id"`
	ScanStatus      string         `json:"scan_status"`
	Severity        string         `json:"severity,omitempty"`
	Duration        int64          `json:"duration"`
	Summary         *vulnSummary   `json:"summary,omitempty"`
	StartTime       *harborTime    `json:"start_time,omitempty"`
	EndTime         *harborTime    `json:"end_time,omitempty"`
	CompletePercent int            `json:"complete_percent"`
	Scanner         scannerInfo    `json:"scanner"`
	ExtraAttrs      map[string]any `json:"extra_attrs,omitempty"`
}

// vulnSummary is Harbor's VulnerabilitySummary.
type vulnSummary struct {
	Total   int            `json:"total"`
	Fixable int            `json:"fixable"`
	Summary map[string]int `json:"summary"`
}

// sbomOverview is Harbor's SBOMOverview.
type sbomOverview struct {
	StartTime  *harborTime `json:"start_time,omitempty"`
	EndTime    *harborTime `json:"end_time,omitempty"`
	ScanStatus string      `json:"scan_status"`
	SBOMDigest string      `json:"sbom_digest,omitempty"`
	ReportID   string      `json:"report_id"`
	Duration   int64       `json:"duration"`
	Scanner    scannerInfo `json:"scanner"`
	// SBOMMediaType is berth's: the document's media type,
	// application/vnd.cyclonedx+json or application/spdx+json (Harbor's
	// are always SPDX), read from the accessory's layer.
	SBOMMediaType string `json:"sbom_media_type,omitempty"`
}

func timePtr(t time.Time) *harborTime {
	if t.IsZero() {
		return nil
	}
	h := harborTime(t)
	return &h
}

// summaryOf is a report as Harbor's NativeReportSummary: the current
// scan's status with the last result's figures.
func summaryOf(r *meta.ScanReport) nativeReportSummary {
	n := nativeReportSummary{ReportID: r.ReportID, ScanStatus: r.Status, Scanner: builtinScanner,
		StartTime: timePtr(r.StartTime), EndTime: timePtr(r.EndTime)}
	if !r.EndTime.IsZero() && !r.StartTime.IsZero() {
		n.Duration = int64(r.EndTime.Sub(r.StartTime).Seconds())
	}
	if r.Status == meta.JobSuccess {
		n.CompletePercent = 100
	}
	if r.HasResult {
		sum := vulnSummary{Total: r.Total, Fixable: r.Fixable, Summary: map[string]int{}}
		_ = json.Unmarshal(r.Summary, &sum.Summary)
		n.Summary, n.Severity = &sum, r.Severity
	}
	return n
}

// addScanOverviews sets scan_overview and sbom_overview on arts (as
// asked by o) from the reports of their digests: one query each.
func (s *Server) addScanOverviews(ctx context.Context, arts []artifact, o artifactOptions) error {
	if s.opt.Scan == nil || len(arts) == 0 || (!o.scanOverview && !o.sbomOverview) {
		return nil
	}
	ds := make([]digest.Digest, len(arts))
	for i := range arts {
		ds[i] = digest.Digest(arts[i].Digest)
	}
	if o.scanOverview {
		rs, err := s.opt.Scan.Store.ScanReports(ctx, ds)
		if err != nil {
			return err
		}
		for i := range arts {
			if r := rs[ds[i]]; r != nil {
				arts[i].ScanOverview = map[string]nativeReportSummary{reportMime: summaryOf(r)}
			}
		}
	}
	if o.sbomOverview {
		// An SBOM belongs to the repository it was pushed to.
		byRepo := map[string][]digest.Digest{}
		for i := range arts {
			byRepo[arts[i].RepositoryName] = append(byRepo[arts[i].RepositoryName], ds[i])
		}
		sb := map[string]map[digest.Digest]*meta.ScanSBOM{}
		for repo, rds := range byRepo {
			m, err := s.opt.Scan.Store.ScanSBOMs(ctx, repo, rds)
			if err != nil {
				return err
			}
			sb[repo] = m
		}
		for i := range arts {
			if b := sb[arts[i].RepositoryName][ds[i]]; b != nil {
				ov := &sbomOverview{StartTime: timePtr(b.StartTime), EndTime: timePtr(b.EndTime), ScanStatus: b.Status,
					SBOMDigest: string(b.SBOMDigest), ReportID: b.ReportID, Scanner: builtinScanner}
				if !b.EndTime.IsZero() {
					ov.Duration = int64(b.EndTime.Sub(b.StartTime).Seconds())
				}
				ov.SBOMMediaType = b.MediaType
				arts[i].SBOMOverview = ov
			}
		}
	}
	return nil
}

// scanner returns the built-in scanner, or 503 without one.
func (s *Server) scanner() (*scan.Scanner, error) {
	if s.opt.Scan == nil || s.opt.Scan.Queue == nil {
		return nil, errNotRunning("scanning is not running")
	}
	return s.opt.Scan, nil
}

// scanRequest is Harbor's ScanType body with berth's sbom_format.
type scanRequest struct {
	ScanType string `json:"scan_type"`
	// SBOMFormat is berth's: cyclonedx or spdx, for scan_type sbom only;
	// absent, the project's sbom_format (CycloneDX if unset).
	SBOMFormat string `json:"sbom_format"`
}

// scanRequestOf reads the scan request; an empty scan_type means
// vulnerability unless required.
func scanRequestOf(r *http.Request, required bool) (typ string, f sbom.Format, err error) {
	var body scanRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &body); err != nil {
			return "", "", err
		}
	}
	switch body.ScanType {
	case "":
		if required {
			return "", "", errBadRequest("scan_type is required")
		}
		typ = scan.TypeVulnerability
	case scan.TypeVulnerability, scan.TypeSBOM:
		typ = body.ScanType
	default:
		return "", "", errBadRequest(fmt.Sprintf("scan_type %q: want vulnerability or sbom", body.ScanType))
	}
	if body.SBOMFormat == "" {
		return typ, "", nil
	}
	if typ != scan.TypeSBOM {
		return "", "", errBadRequest("sbom_format applies to scan_type sbom only")
	}
	if f, err = sbom.ParseFormat(body.SBOMFormat); err != nil {
		return "", "", errBadRequest("sbom_format: " + err.Error())
	}
	return typ, f, nil
}

// scanArtifact: POST .../artifacts/{reference}/scan → 202.
func (s *Server) scanArtifact(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.scanner()
	if err != nil {
		return err
	}
	p, repo, a, err := s.artifactFor(r, rbac.Push)
	if err != nil {
		return err
	}
	typ, format, err := scanRequestOf(r, false)
	if err != nil {
		return err
	}
	m, err := s.opt.Store.GetManifest(r.Context(), repo, string(a.Digest), true)
	if err != nil {
		return err
	}
	want := scan.Want{ProjectID: p.ID, Manifest: m, Type: typ, Trigger: meta.TriggerManual, Format: format}
	if _, err := sc.Enqueue(r.Context(), want); errors.Is(err, scan.ErrNotScannable) {
		return errUnprocessable(fmt.Sprintf("the artifact %s@%s cannot be scanned: it is neither an image nor an index", repo, a.Digest))
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "scan", "artifact", repo+"@"+string(a.Digest), p)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// stopScanArtifact: POST .../scan/stop → 202; the running scan stops at
// its next layer, a pending one does not start.
func (s *Server) stopScanArtifact(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.scanner()
	if err != nil {
		return err
	}
	p, repo, a, err := s.artifactFor(r, rbac.Push)
	if err != nil {
		return err
	}
	if _, _, err := scanRequestOf(r, true); err != nil {
		return err
	}
	rs, err := sc.Store.ScanReports(r.Context(), []digest.Digest{a.Digest})
	if err != nil {
		return err
	}
	if rep := rs[a.Digest]; rep != nil && (rep.Status == meta.JobPending || rep.Status == meta.JobRunning) {
		if err := sc.Queue.Store.RequestStop(r.Context(), rep.ExecutionID); err != nil && !isNotFound(err) {
			return err
		}
		rep.Status, rep.EndTime = meta.JobStopped, time.Now()
		if err := sc.Store.PutScanReport(r.Context(), rep); err != nil {
			return err
		}
	}
	s.record(r.Context(), r, "stop_scan", "artifact", repo+"@"+string(a.Digest), p)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// getReportLog: GET .../scan/{report_id}/log, the scan job's log.
func (s *Server) getReportLog(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.scanner()
	if err != nil {
		return err
	}
	_, _, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	rep, err := sc.Store.ScanReportByID(r.Context(), r.PathValue("report_id"))
	if isNotFound(err) || (err == nil && rep.Digest != a.Digest) {
		return errNotFound("report " + r.PathValue("report_id") + " not found")
	} else if err != nil {
		return err
	}
	text := ""
	if rep.ExecutionID != 0 {
		if text, err = sc.Queue.Store.ReadLog(r.Context(), meta.LogExecution, rep.ExecutionID); err != nil && !isNotFound(err) {
			return err
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write([]byte(text))
	return err
}

// vulnItem is one vulnerability of Harbor's report v1.1.
type vulnItem struct {
	ID               string         `json:"id"`
	Package          string         `json:"package"`
	Version          string         `json:"version"`
	FixVersion       string         `json:"fix_version"`
	Severity         string         `json:"severity"`
	Description      string         `json:"description"`
	Links            []string       `json:"links"`
	PreferredCVSS    *cvss          `json:"preferred_cvss,omitempty"`
	CWEIDs           []string       `json:"cwe_ids"`
	VendorAttributes map[string]any `json:"vendor_attributes"`
	ArtifactDigests  []string       `json:"artifact_digests"`
}

type cvss struct {
	ScoreV3  *float64 `json:"score_v3,omitempty"`
	ScoreV2  *float64 `json:"score_v2,omitempty"`
	VectorV3 string   `json:"vector_v3"`
	VectorV2 string   `json:"vector_v2"`
}

// vulnReport is Harbor's report v1.1.
type vulnReport struct {
	GeneratedAt     harborTime     `json:"generated_at"`
	Artifact        map[string]any `json:"artifact"`
	Scanner         scannerInfo    `json:"scanner"`
	Severity        string         `json:"severity"`
	Vulnerabilities []vulnItem     `json:"vulnerabilities"`
	// ExtraAttrs is berth's: base_image, the lineage (lineageFor).
	ExtraAttrs map[string]any `json:"extra_attrs,omitempty"`
}

// lineageFor is d's base image as the caller may see it (repositories
// of projects they cannot list are left out), nil if none.
func (s *Server) lineageFor(r *http.Request, d digest.Digest) (map[string]any, error) {
	l, err := s.opt.Scan.BaseImage(r.Context(), d)
	if err != nil || l == nil {
		return nil, err
	}
	repos := []string{}
	for _, repo := range l.Repositories {
		p, err := s.opt.Access.GetProjectByName(r.Context(), events.ProjectOf(repo))
		if err == nil && s.mayAct(r, p, rbac.ListRepos, errors.New("hidden")) == nil {
			repos = append(repos, repo)
		}
	}
	return map[string]any{"base_image": map[string]any{"digest": l.Digest, "layers": l.Layers, "repositories": repos}}, nil
}

// vulnItems describes findings with the details of the active database.
func (s *Server) vulnItems(rep *meta.ScanReport) []vulnItem {
	db, release := s.opt.Scan.DB.Acquire()
	defer release()
	out := []vulnItem{}
	for _, f := range scan.Findings(rep) {
		it := vulnItem{ID: f.ID, Package: f.Package, Version: f.Version, FixVersion: f.FixVersion, Severity: scan.HarborSeverity(f.Severity),
			Links: []string{}, CWEIDs: []string{}, VendorAttributes: map[string]any{}, ArtifactDigests: []string{string(rep.Digest)}}
		if db != nil {
			if v, ok := db.Vulnerability(f.ID); ok {
				it.Description, it.Links = v.Description, append(it.Links, v.References...)
				if v.CweIDs != nil {
					it.CWEIDs = v.CweIDs
				}
				it.PreferredCVSS = preferredCVSS(v, f.DataSource)
				if len(v.CVSS) > 0 {
					it.VendorAttributes["CVSS"] = v.CVSS
				}
			}
		}
		if f.DataSourceU != "" && len(it.Links) == 0 {
			it.Links = append(it.Links, f.DataSourceU)
		}
		// The vendor's state of an unfixed vulnerability (Red Hat's
		// "will_not_fix", ...) and its advisories, as Trivy reports them.
		if f.Status != "" {
			it.VendorAttributes["status"] = f.Status
		}
		if len(f.VendorIDs) > 0 {
			it.VendorAttributes["vendor_ids"] = f.VendorIDs
		}
		out = append(out, it)
	}
	return out
}

// preferredCVSS: NVD's scores, else the data source's.
func preferredCVSS(v vulndb.Vulnerability, source string) *cvss {
	for _, src := range []string{"nvd", source, "ghsa"} {
		c, ok := v.CVSS[src]
		if !ok {
			continue
		}
		out := &cvss{VectorV3: c.V3Vector, VectorV2: c.V2Vector}
		if c.V3Score > 0 {
			out.ScoreV3 = &c.V3Score
		}
		if c.V2Score > 0 {
			out.ScoreV2 = &c.V2Score
		}
		return out
	}
	return nil
}

// getVulnerabilitiesAddition: GET .../additions/vulnerabilities, Harbor's
// {"<mime>": report}; {} before the first successful scan.
func (s *Server) getVulnerabilitiesAddition(w http.ResponseWriter, r *http.Request) error {
	_, repo, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	out := map[string]vulnReport{}
	if s.opt.Scan != nil && acceptsReport(r.Header.Get("X-Accept-Vulnerabilities")) {
		rs, err := s.opt.Scan.Store.ScanReports(r.Context(), []digest.Digest{a.Digest})
		if err != nil {
			return err
		}
		if rep := rs[a.Digest]; rep != nil && rep.HasResult {
			extra, err := s.lineageFor(r, a.Digest)
			if err != nil {
				return err
			}
			out[reportMime] = vulnReport{GeneratedAt: harborTime(rep.EndTime), Scanner: builtinScanner, Severity: rep.Severity,
				Artifact:        map[string]any{"repository": repo, "digest": a.Digest, "mime_type": a.MediaType},
				Vulnerabilities: s.vulnItems(rep), ExtraAttrs: extra}
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// acceptsReport: the header (Harbor's default when absent) lists the v1.1
// report.
func acceptsReport(h string) bool {
	if h == "" {
		return true
	}
	for _, part := range strings.Split(h, ",") {
		if strings.EqualFold(strings.Join(strings.Fields(part), " "), reportMime) {
			return true
		}
	}
	return false
}
