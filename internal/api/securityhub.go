package api

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// hubScanLimit bounds the findings one security hub request reads: the
// hub is computed from the stored reports, not kept as a table.
const hubScanLimit = 200_000

// hubItem is Harbor's VulnerabilityItem.
type hubItem struct {
	ProjectID      int64    `json:"project_id"`
	RepositoryName string   `json:"repository_name"`
	Digest         string   `json:"digest"`
	Tags           []string `json:"tags,omitempty"`
	CVEID          string   `json:"cve_id"`
	Severity       string   `json:"severity"`
	Status         string   `json:"status"`
	CVSSScoreV3    *float64 `json:"cvss_v3_score,omitempty"`
	Package        string   `json:"package"`
	Version        string   `json:"version"`
	FixedVersion   string   `json:"fixed_version"`
	Desc           string   `json:"desc"`
	Links          []string `json:"links"`
	// BaseImage is berth's: the digest of the artifact's base image in
	// this registry (with q base_image=…, the lineage filter).
	BaseImage string `json:"base_image,omitempty"`
}

// hubWalk calls fn with every finding of every artifact the caller may
// see (a repository holding the digest, in a project where they may
// list repositories), with its project id, until fn returns false.
func (s *Server) hubWalk(r *http.Request, fn func(projectID int64, repo string, rep *meta.ScanReport, it vulnItem) bool) error {
	sc, err := s.scanner()
	if err != nil {
		return err
	}
	visible := map[string]int64{} // project name → id, 0: not visible
	see := func(repo string) int64 {
		name := events.ProjectOf(repo)
		if id, ok := visible[name]; ok {
			return id
		}
		var id int64
		if p, err := s.opt.Access.GetProjectByName(r.Context(), name); err == nil && s.mayAct(r, p, rbac.ListRepos, errors.New("hidden")) == nil {
			id = p.ID
		}
		visible[name] = id
		return id
	}
	read := 0
	var after digest.Digest
	for read < hubScanLimit {
		reps, err := sc.Store.VulnerableReports(r.Context(), after, 200)
		if err != nil || len(reps) == 0 {
			return err
		}
		ds := make([]digest.Digest, len(reps))
		for i := range reps {
			ds[i] = reps[i].Digest
		}
		repos, err := sc.Store.DigestRepositories(r.Context(), ds)
		if err != nil {
			return err
		}
		for i := range reps {
			rep := &reps[i]
			items := s.vulnItems(rep)
			for _, repo := range repos[rep.Digest] {
				pid := see(repo)
				if pid == 0 {
					continue
				}
				for _, it := range items {
					read++
					if !fn(pid, repo, rep, it) {
						return nil
					}
				}
			}
		}
		after = reps[len(reps)-1].Digest
	}
	return nil
}

// hubMatches applies Harbor's q keys to an item: cve_id, severity,
// status, repository_name, project_id, package, digest, tag (exact) and
// cvss_score_v3 (range).
func hubMatches(q meta.ListQuery, it *hubItem) bool {
	for _, c := range q.Where {
		v := ""
		if len(c.Values) > 0 {
			v = c.Values[0]
		}
		switch c.Key {
		case "cve_id":
			if it.CVEID != v {
				return false
			}
		case "severity":
			if !strings.EqualFold(it.Severity, v) {
				return false
			}
		case "status":
			if it.Status != v {
				return false
			}
		case "repository_name":
			if it.RepositoryName != v {
				return false
			}
		case "project_id":
			if strconv.FormatInt(it.ProjectID, 10) != v {
				return false
			}
		case "package":
			if it.Package != v {
				return false
			}
		case "digest":
			if it.Digest != v {
				return false
			}
		case "tag":
			if !slices.Contains(it.Tags, v) {
				return false
			}
		case "base_image":
			if it.BaseImage != v {
				return false
			}
		case "cvss_score_v3":
			if it.CVSSScoreV3 == nil || !inRange(*it.CVSSScoreV3, c) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func inRange(x float64, c meta.Cond) bool {
	if c.Op != meta.Range {
		f, err := strconv.ParseFloat(c.Values[0], 64)
		return err == nil && f == x
	}
	if lo, err := strconv.ParseFloat(c.Values[0], 64); err == nil && x < lo {
		return false
	}
	if hi, err := strconv.ParseFloat(c.Values[1], 64); err == nil && x > hi {
		return false
	}
	return true
}

// ListVulnerabilities: GET /security/vul, every vulnerability of every
// artifact the caller may see (Harbor: system administrators only),
// filtered by q, paged.
func (s *Server) ListVulnerabilities(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required to list vulnerabilities")
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	keys := []string{"cve_id", "severity", "status", "repository_name", "project_id", "package", "digest", "tag", "cvss_score_v3", "base_image"}
	for _, c := range lq.Where {
		if !slices.Contains(keys, c.Key) {
			return &meta.QueryError{Key: c.Key, Reason: "not supported here (supported: " + strings.Join(keys, ", ") + ")"}
		}
	}
	if len(lq.Sort) > 0 { // Harbor's list has no sort: refused, not ignored
		return &meta.QueryError{Key: lq.Sort[0].Key, Sort: true, Reason: "this list cannot be sorted"}
	}
	withTag := r.URL.Query().Get("with_tag") == "true"
	needTags := withTag || lq.Value("tag") != ""
	tags := map[string][]string{}
	needBase := lq.Value("base_image") != ""
	bases := map[digest.Digest]string{}
	var page []hubItem
	total := 0
	from := (lq.Page.Page - 1) * lq.Page.Size
	err = s.hubWalk(r, func(pid int64, repo string, rep *meta.ScanReport, v vulnItem) bool {
		it := hubItem{ProjectID: pid, RepositoryName: repo, Digest: string(rep.Digest), CVEID: v.ID, Severity: v.Severity,
			Status: "", Package: v.Package, Version: v.Version, FixedVersion: v.FixVersion, Desc: v.Description, Links: v.Links}
		if v.PreferredCVSS != nil {
			it.CVSSScoreV3 = v.PreferredCVSS.ScoreV3
		}
		switch st, _ := v.VendorAttributes["status"].(string); {
		case v.FixVersion != "":
			it.Status = "fixed"
		case st != "":
			it.Status = st // the vendor's: will_not_fix, under_investigation, ...
		default:
			it.Status = "affected"
		}
		if needTags {
			key := repo + "@" + string(rep.Digest)
			if _, ok := tags[key]; !ok {
				if a, err := s.opt.Catalog.Artifact(r.Context(), repo, rep.Digest); err == nil {
					for _, t := range a.Tags {
						tags[key] = append(tags[key], t.Name)
					}
				}
			}
			it.Tags = tags[key]
		}
		if needBase {
			b, ok := bases[rep.Digest]
			if !ok {
				if base, _, err := s.opt.Scan.Store.BaseImage(r.Context(), rep.Digest); err == nil {
					b = string(base)
				}
				bases[rep.Digest] = b
			}
			it.BaseImage = b
		}
		if !hubMatches(lq, &it) {
			return true
		}
		if total >= from && len(page) < lq.Page.Size {
			if !withTag {
				it.Tags = nil
			}
			page = append(page, it)
		}
		total++
		return true
	})
	if err != nil {
		return err
	}
	if page == nil {
		page = []hubItem{}
	}
	setPaging(w, r, lq.Page, int64(total))
	return writeJSON(w, http.StatusOK, page)
}

// securitySummary is Harbor's SecuritySummary.
type securitySummary struct {
	CriticalCnt        int64               `json:"critical_cnt"`
	HighCnt            int64               `json:"high_cnt"`
	MediumCnt          int64               `json:"medium_cnt"`
	LowCnt             int64               `json:"low_cnt"`
	NoneCnt            int64               `json:"none_cnt"`
	UnknownCnt         int64               `json:"unknown_cnt"`
	TotalVuls          int64               `json:"total_vuls"`
	ScannedCnt         int64               `json:"scanned_cnt"`
	TotalArtifact      int64               `json:"total_artifact"`
	FixableCnt         int64               `json:"fixable_cnt"`
	DangerousCVEs      []dangerousCVE      `json:"dangerous_cves,omitempty"`
	DangerousArtifacts []dangerousArtifact `json:"dangerous_artifacts,omitempty"`
}

type dangerousCVE struct {
	CVEID       string  `json:"cve_id"`
	Severity    string  `json:"severity"`
	CVSSScoreV3 float64 `json:"cvss_score_v3"`
	Desc        string  `json:"desc"`
	Package     string  `json:"package"`
	Version     string  `json:"version"`
}

type dangerousArtifact struct {
	ProjectID      int64  `json:"project_id"`
	RepositoryName string `json:"repository_name"`
	Digest         string `json:"digest"`
	CriticalCnt    int64  `json:"critical_cnt"`
	HighCnt        int64  `json:"high_cnt"`
	MediumCnt      int64  `json:"medium_cnt"`
}

// getSecuritySummary: GET /security/summary over the artifacts the
// caller may see: vulnerabilities by severity, artifacts scanned, and
// the five most dangerous CVEs and artifacts when asked for.
func (s *Server) getSecuritySummary(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required to read the security summary")
	}
	sc, err := s.scanner()
	if err != nil {
		return err
	}
	var sum securitySummary
	cves := map[string]*dangerousCVE{}
	arts := map[string]*dangerousArtifact{}
	err = s.hubWalk(r, func(pid int64, repo string, rep *meta.ScanReport, v vulnItem) bool {
		sum.TotalVuls++
		switch v.Severity {
		case "Critical":
			sum.CriticalCnt++
		case "High":
			sum.HighCnt++
		case "Medium":
			sum.MediumCnt++
		case "Low":
			sum.LowCnt++
		default:
			sum.UnknownCnt++
		}
		if v.FixVersion != "" {
			sum.FixableCnt++
		}
		if _, ok := cves[v.ID]; !ok {
			c := &dangerousCVE{CVEID: v.ID, Severity: v.Severity, Desc: v.Description, Package: v.Package, Version: v.Version}
			if v.PreferredCVSS != nil && v.PreferredCVSS.ScoreV3 != nil {
				c.CVSSScoreV3 = *v.PreferredCVSS.ScoreV3
			}
			cves[v.ID] = c
		}
		key := repo + "@" + string(rep.Digest)
		a := arts[key]
		if a == nil {
			a = &dangerousArtifact{ProjectID: pid, RepositoryName: repo, Digest: string(rep.Digest)}
			arts[key] = a
		}
		switch v.Severity {
		case "Critical":
			a.CriticalCnt++
		case "High":
			a.HighCnt++
		case "Medium":
			a.MediumCnt++
		}
		return true
	})
	if err != nil {
		return err
	}
	// Artifacts and the scanned ones, among those the caller may see.
	visible := map[string]bool{}
	var afterRepo string
	var afterDigest digest.Digest
	for {
		page, err := sc.Store.ScanCandidates(r.Context(), afterRepo, afterDigest, 500)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		ds := make([]digest.Digest, 0, len(page))
		for _, c := range page {
			name := events.ProjectOf(c.Repo)
			ok, seen := visible[name]
			if !seen {
				p, err := s.opt.Access.GetProjectByName(r.Context(), name)
				ok = err == nil && s.mayAct(r, p, rbac.ListRepos, errors.New("hidden")) == nil
				visible[name] = ok
			}
			if ok {
				sum.TotalArtifact++
				ds = append(ds, c.Digest)
			}
		}
		rs, err := sc.Store.ScanReports(r.Context(), ds)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if rep := rs[d]; rep != nil && rep.HasResult {
				sum.ScannedCnt++
			}
		}
		afterRepo, afterDigest = page[len(page)-1].Repo, page[len(page)-1].Digest
	}
	rank := map[string]int{"Critical": 5, "High": 4, "Medium": 3, "Low": 2}
	if r.URL.Query().Get("with_dangerous_cve") == "true" {
		for _, c := range cves {
			sum.DangerousCVEs = append(sum.DangerousCVEs, *c)
		}
		sort.Slice(sum.DangerousCVEs, func(i, j int) bool {
			a, b := sum.DangerousCVEs[i], sum.DangerousCVEs[j]
			if rank[a.Severity] != rank[b.Severity] {
				return rank[a.Severity] > rank[b.Severity]
			}
			if a.CVSSScoreV3 != b.CVSSScoreV3 {
				return a.CVSSScoreV3 > b.CVSSScoreV3
			}
			return a.CVEID < b.CVEID
		})
		sum.DangerousCVEs = sum.DangerousCVEs[:min(5, len(sum.DangerousCVEs))]
	}
	if r.URL.Query().Get("with_dangerous_artifact") == "true" {
		for _, a := range arts {
			sum.DangerousArtifacts = append(sum.DangerousArtifacts, *a)
		}
		sort.Slice(sum.DangerousArtifacts, func(i, j int) bool {
			a, b := sum.DangerousArtifacts[i], sum.DangerousArtifacts[j]
			if a.CriticalCnt != b.CriticalCnt {
				return a.CriticalCnt > b.CriticalCnt
			}
			if a.HighCnt != b.HighCnt {
				return a.HighCnt > b.HighCnt
			}
			if a.MediumCnt != b.MediumCnt {
				return a.MediumCnt > b.MediumCnt
			}
			return a.RepositoryName+a.Digest < b.RepositoryName+b.Digest
		})
		sum.DangerousArtifacts = sum.DangerousArtifacts[:min(5, len(sum.DangerousArtifacts))]
	}
	return writeJSON(w, http.StatusOK, sum)
}
