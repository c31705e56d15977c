package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// ScanReport is the vulnerability report of one manifest digest (the same
// digest in several repositories is scanned once). Status is the current
// scan's; the result fields (Severity … Findings, VulnDB) are those of the
// last scan or re-match that succeeded, kept while a new scan runs, so a
// digest that was clean is not blocked while it is scanned again.
type ScanReport struct {
	Digest      digest.Digest
	ReportID    string
	Status      string // JobPending, JobRunning, JobSuccess, JobError, JobStopped
	ExecutionID int64  // the job of the current scan
	// HasResult: the result fields are set (a scan succeeded once).
	HasResult bool
	VulnDB    string // the vulnerability database digest matched against
	Severity  string // Harbor's: None, Unknown, Low, Medium, High, Critical
	Total     int
	Fixable   int
	// Summary (counts by severity) and Findings are JSON, owned by scan.
	Summary   []byte
	Findings  []byte
	StartTime time.Time
	EndTime   time.Time
	UpdatedAt time.Time
}

// ScanSBOM is the SBOM generation state of a manifest digest.
type ScanSBOM struct {
	Digest     digest.Digest
	ReportID   string
	Status     string
	SBOMDigest digest.Digest // the accessory manifest, once made
	MediaType  string        // of the document (its format), once made
	Repo       string        // where it was pushed
	StartTime  time.Time
	EndTime    time.Time
}

// ScanCatalogue is a package list as PutCatalogue stores it.
type ScanCatalogue struct {
	Digest   digest.Digest
	Analyzer int
	Data     []byte
	Layers   []digest.Digest
}

// ScanRequest is one scan to queue: its execution, and the report (a
// vulnerability scan) or SBOM state (an SBOM) it makes Pending.
type ScanRequest struct {
	Execution *Execution
	Report    *ScanReport
	SBOM      *ScanSBOM
}

// VulnDBState is the vulnerability database every replica should use.
type VulnDBState struct {
	Digest     string
	UpdatedAt  time.Time // the database's own UpdatedAt
	ImportedAt time.Time
}

// ScanStore keeps scanning's package lists, reports, the active
// vulnerability database and the system CVE allowlist.
type ScanStore interface {
	// PutCatalogue stores (replaces) the package list of d, made by
	// cataloguer version analyzer (data is JSON owned by scan), and the
	// layers of d in order (none for an index).
	PutCatalogue(ctx context.Context, d digest.Digest, analyzer int, data []byte, layers []digest.Digest) error
	// Catalogue returns it (ErrNotFound if none).
	Catalogue(ctx context.Context, d digest.Digest) (analyzer int, data []byte, err error)
	// BaseImage returns the catalogued image whose layers are the longest
	// proper prefix of d's, and how many layers it has ("" if none).
	BaseImage(ctx context.Context, d digest.Digest) (digest.Digest, int, error)
	// CataloguedDigests pages through the digests with a package list, in
	// order, after after ("" first).
	CataloguedDigests(ctx context.Context, after digest.Digest, limit int) ([]digest.Digest, error)

	// PutScanReport creates or replaces the report of r.Digest.
	PutScanReport(ctx context.Context, r *ScanReport) error
	// SaveScanResult stores c (nil: none) and r in one transaction: a
	// scan's package list and report are one write.
	SaveScanResult(ctx context.Context, c *ScanCatalogue, r *ScanReport) error
	// EnqueueScans inserts, in one transaction, each request's execution
	// (Pending; its ID is set) and its report or SBOM state with that
	// execution (the report's ExecutionID is set).
	EnqueueScans(ctx context.Context, reqs []ScanRequest) error
	// ScanReports returns the reports of the digests that have one.
	ScanReports(ctx context.Context, ds []digest.Digest) (map[digest.Digest]*ScanReport, error)
	// ScanReportByID finds a report by its id (ErrNotFound).
	ScanReportByID(ctx context.Context, id string) (*ScanReport, error)
	// VulnerableReports pages through the reports with findings, by
	// digest after after.
	VulnerableReports(ctx context.Context, after digest.Digest, limit int) ([]ScanReport, error)

	PutScanSBOM(ctx context.Context, s *ScanSBOM) error
	// ScanSBOMs returns the SBOM states of the digests in repo (an SBOM
	// is an accessory of one repository).
	ScanSBOMs(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest]*ScanSBOM, error)

	// SetVulnDB records the database to use; changed is false if it was
	// already that one.
	SetVulnDB(ctx context.Context, st VulnDBState) (changed bool, err error)
	// VulnDB returns it (ErrNotFound before the first).
	VulnDB(ctx context.Context) (VulnDBState, error)

	// SystemCVEAllowlist returns the system list (empty, ID 0, before it is
	// first set); SetSystemCVEAllowlist replaces it.
	SystemCVEAllowlist(ctx context.Context) (CVEAllowlist, error)
	SetSystemCVEAllowlist(ctx context.Context, l CVEAllowlist) error

	// PullPolicies returns the projects whose metadata prevent_vul is
	// "true", by name, with their id and metadata (the pull check's cache
	// reads it in one query).
	PullPolicies(ctx context.Context) (map[string]PullPolicy, error)

	// ScanCandidates pages through every artifact that is not an
	// accessory (no subject), by repository and digest, after the pair
	// given ("", "" first): what scan-all visits.
	ScanCandidates(ctx context.Context, afterRepo string, afterDigest digest.Digest, limit int) ([]ScanCandidate, error)
	// UnscannedSince returns up to limit artifacts of projects with
	// auto_scan, not accessories, pushed at or after since, whose digest
	// has no report, oldest first: the scans on push a restart may have
	// lost.
	UnscannedSince(ctx context.Context, since time.Time, limit int) ([]ScanCandidate, error)
	// DigestRepositories returns the repositories holding each digest.
	DigestRepositories(ctx context.Context, ds []digest.Digest) (map[digest.Digest][]string, error)
}

// ScanCandidate is an artifact scan-all visits.
type ScanCandidate struct {
	Repo      string
	Digest    digest.Digest
	MediaType string
}

// PullPolicy is a project with prevent_vul set.
type PullPolicy struct {
	ProjectID int64
	Metadata  map[string]string
}
