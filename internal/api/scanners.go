package api

import (
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// builtinScannerID is the registration id of the built-in scanner, the
// only one (and the default).
const builtinScannerID = "berth-builtin"

// scannerRegistration is Harbor's ScannerRegistration.
type scannerRegistration struct {
	UUID             string     `json:"uuid"`
	Name             string     `json:"name"`
	Description      string     `json:"description"`
	URL              string     `json:"url"`
	Disabled         bool       `json:"disabled"`
	IsDefault        bool       `json:"is_default"`
	Auth             string     `json:"auth"`
	AccessCredential string     `json:"access_credential"`
	SkipCertVerify   bool       `json:"skip_certVerify"`
	UseInternalAddr  bool       `json:"use_internal_addr"`
	Health           string     `json:"health"`
	CreateTime       harborTime `json:"create_time"`
	UpdateTime       harborTime `json:"update_time"`
	Adapter          string     `json:"adapter"`
	Vendor           string     `json:"vendor"`
	Version          string     `json:"version"`
}

// scannerCapability is Harbor's ScannerCapability.
type scannerCapability struct {
	Type              string   `json:"type"`
	ConsumesMimeTypes []string `json:"consumes_mime_types"`
	ProducesMimeTypes []string `json:"produces_mime_types"`
}

// scannerMetadata is Harbor's ScannerAdapterMetadata.
type scannerMetadata struct {
	Scanner      scannerInfo         `json:"scanner"`
	Capabilities []scannerCapability `json:"capabilities"`
	Properties   map[string]string   `json:"properties"`
}

// builtinRegistration describes the built-in scanner; healthy while a
// vulnerability database is active.
func (s *Server) builtinRegistration() scannerRegistration {
	reg := scannerRegistration{UUID: builtinScannerID, Name: "berth", Description: "berth's built-in scanner (dpkg, apk, Go binaries) on the Trivy DB v2",
		URL: "builtin://berth", IsDefault: true, Health: "unhealthy", Adapter: builtinScanner.Name, Vendor: builtinScanner.Vendor,
		Version: builtinScanner.Version, CreateTime: harborTime(time.Unix(0, 0)), UpdateTime: harborTime(time.Unix(0, 0))}
	if s.opt.Scan != nil {
		if _, md, ok := s.opt.Scan.DB.Active(); ok {
			reg.Health, reg.UpdateTime = "healthy", harborTime(md.UpdatedAt)
		}
	}
	return reg
}

// listScanners: GET /scanners (system administrators).
func (s *Server) listScanners(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	return s.writeScanners(w, r)
}

// writeScanners answers the scanner registrations (the built-in one) that
// match q, in sort's order, a page of them.
func (s *Server) writeScanners(w http.ResponseWriter, r *http.Request) error {
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, err := queryMemory([]scannerRegistration{s.builtinRegistration()}, scannerKeys, "name", lq)
	if err != nil {
		return err
	}
	setPaging(w, r, lq.Page, int64(len(list)))
	return writeJSON(w, http.StatusOK, pageSlice(list, lq.Page))
}

// scannerFor resolves {registration_id}: only the built-in one exists.
func (s *Server) scannerFor(r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	if r.PathValue("registration_id") != builtinScannerID {
		return errNotFound("scanner registration " + r.PathValue("registration_id") + " not found")
	}
	return nil
}

// getScanner: GET /scanners/{registration_id}.
func (s *Server) getScanner(w http.ResponseWriter, r *http.Request) error {
	if err := s.scannerFor(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.builtinRegistration())
}

// getScannerMetadata: GET /scanners/{registration_id}/metadata, with the
// active database's UpdatedAt as Harbor's database property.
func (s *Server) getScannerMetadata(w http.ResponseWriter, r *http.Request) error {
	if err := s.scannerFor(r); err != nil {
		return err
	}
	consumes := []string{"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
	md := scannerMetadata{Scanner: builtinScanner, Capabilities: []scannerCapability{
		{Type: "vulnerability", ConsumesMimeTypes: consumes, ProducesMimeTypes: []string{reportMime}},
		{Type: "sbom", ConsumesMimeTypes: consumes, ProducesMimeTypes: []string{"application/vnd.security.sbom.report+json; version=1.0"}},
	}, Properties: map[string]string{"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"}}
	if s.opt.Scan != nil {
		if d, m, ok := s.opt.Scan.DB.Active(); ok {
			md.Properties["harbor.scanner-adapter/vulnerability-database-updated-at"] = m.UpdatedAt.UTC().Format(time.RFC3339)
			md.Properties["harbor.scanner-adapter/vulnerability-database-next-update-at"] = m.NextUpdate.UTC().Format(time.RFC3339)
			md.Properties["berth/vulnerability-database-digest"] = d
		}
	}
	return writeJSON(w, http.StatusOK, md)
}

// getScannerOfProject: GET /projects/{project_name_or_id}/scanner.
func (s *Server) getScannerOfProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.projectFor(r, "project_name_or_id", rbac.ReadProject); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.builtinRegistration())
}

// setScannerOfProject: PUT /projects/{project_name_or_id}/scanner
// {"uuid"}: only the built-in scanner can be chosen.
func (s *Server) setScannerOfProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteProject)
	if err != nil {
		return err
	}
	var req struct {
		UUID string `json:"uuid"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.UUID != builtinScannerID {
		return errBadRequest("scanner " + req.UUID + " not found: the built-in scanner " + builtinScannerID + " is the only one")
	}
	s.record(r.Context(), r, "update", "project_scanner", p.Name, p)
	return ok(w)
}

// listScannerCandidatesOfProject: GET .../scanner/candidates.
func (s *Server) listScannerCandidatesOfProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.projectFor(r, "project_name_or_id", rbac.WriteProject); err != nil {
		return err
	}
	return s.writeScanners(w, r)
}

// getSystemCVEAllowlist: GET /system/CVEAllowlist (any signed-in user).
func (s *Server) getSystemCVEAllowlist(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required to read the system CVE allowlist")
	}
	sc, err := s.scanner()
	if err != nil {
		return err
	}
	l, err := sc.Store.SystemCVEAllowlist(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cveAllowlistJSON(l))
}

// putSystemCVEAllowlist: PUT /system/CVEAllowlist (administrators)
// replaces the list.
func (s *Server) putSystemCVEAllowlist(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	sc, err := s.scanner()
	if err != nil {
		return err
	}
	var req cveAllowlistReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	l, err := req.toMeta(0)
	if err != nil {
		return err
	}
	if err := sc.Store.SetSystemCVEAllowlist(r.Context(), meta.CVEAllowlist{ExpiresAt: l.ExpiresAt, Items: l.Items}); err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "system_cve_allowlist", "system", nil)
	return ok(w)
}
