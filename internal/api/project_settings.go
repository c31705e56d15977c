package api

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/quota"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/sbom"
)

// metadataValue checks one metadata value and returns the form stored.
type metadataValue struct {
	check func(string) (string, bool)
	want  string // what a valid value is, for the error
}

var (
	boolValue = metadataValue{func(v string) (string, bool) { return v, v == "true" || v == "false" }, `"true" or "false"`}
	// Harbor lower-cases severities and reads "negligible" as "none"
	// (vuln.ParseSeverityVersion3).
	severityValue = metadataValue{func(v string) (string, bool) {
		switch v = strings.ToLower(v); v {
		case "none", "low", "medium", "high", "critical":
			return v, true
		case "negligible":
			return "none", true
		}
		return "", false
	}, "one of none, low, medium, high, critical"}
	int32Value = metadataValue{func(v string) (string, bool) {
		n, err := strconv.ParseInt(v, 10, 32)
		return strconv.FormatInt(n, 10), err == nil
	}, "an integer"}
	// max_upstream_conn: a positive count, or -1 for no limit.
	connValue = metadataValue{func(v string) (string, bool) {
		n, err := strconv.ParseInt(v, 10, 32)
		return strconv.FormatInt(n, 10), err == nil && (n > 0 || n == -1)
	}, "a positive integer or -1"}
	idValue = metadataValue{func(v string) (string, bool) {
		n, err := strconv.ParseInt(v, 10, 64)
		return strconv.FormatInt(n, 10), err == nil && n > 0
	}, "a positive integer"}
	// sbom_format: the SBOM writer's format names, stored lower-case.
	sbomFormatValue = metadataValue{func(v string) (string, bool) {
		f, err := sbom.ParseFormat(v)
		return string(f), err == nil && v != ""
	}, fmt.Sprintf("one of %s, %s", sbom.CycloneDX, sbom.SPDX)}
)

// projectMetadataKeys are the keys of Harbor's ProjectMetadata (swagger
// ProjectMetadata; go-client models.ProjectMetadata) with their values.
// "public" is the project's public flag. The others are stored and
// returned now; what they switch on comes with the capability that
// enforces them:
//   - auto_scan, auto_sbom_generation, prevent_vul, severity,
//     reuse_sys_cve_allowlist: the vulnerability scanning issue;
//   - sbom_format (berth's, not Harbor's): the format of the project's
//     SBOMs, cyclonedx (the default) or spdx;
//   - enable_content_trust (notation), enable_content_trust_cosign: the
//     signature verification issue;
//   - retention_id: written by the tag retention issue when a policy is
//     created, read-only through this API as in Harbor;
//   - proxy_speed_kb, max_upstream_conn, proxy_cache_local_on_not_found,
//     proxy_referrer_api: the proxy cache issue.
//
// Harbor's proxy_cache_filter_pattern and proxy_cache_filter_kind apply to
// proxy cache projects only, set when they are created (proxy.go):
// refused here, as Harbor refuses them for a normal project.
var projectMetadataKeys = map[string]metadataValue{
	"public":                         boolValue,
	"enable_content_trust":           boolValue,
	"enable_content_trust_cosign":    boolValue,
	"prevent_vul":                    boolValue,
	"severity":                       severityValue,
	"auto_scan":                      boolValue,
	"auto_sbom_generation":           boolValue,
	scan.SBOMFormatKey:               sbomFormatValue,
	"reuse_sys_cve_allowlist":        boolValue,
	"retention_id":                   idValue,
	"proxy_speed_kb":                 int32Value,
	"max_upstream_conn":              connValue,
	"proxy_cache_local_on_not_found": boolValue,
	"proxy_referrer_api":             boolValue,
}

// checkMetadata checks key=value and returns the value to store.
func checkMetadata(key, value string) (string, error) {
	switch key {
	case "proxy_cache_filter_pattern", "proxy_cache_filter_kind", meta.ProxyRegistryKey:
		return "", errBadRequest(fmt.Sprintf("metadata %s applies to proxy cache projects only, when they are created", key))
	}
	mv, ok := projectMetadataKeys[key]
	if !ok {
		return "", errBadRequest(fmt.Sprintf("unknown project metadata key %q (known: %s)", key,
			strings.Join(slices.Sorted(maps.Keys(projectMetadataKeys)), ", ")))
	}
	v, ok := mv.check(value)
	if !ok {
		return "", errBadRequest(fmt.Sprintf("metadata %s: invalid value %q: want %s", key, value, mv.want))
	}
	return v, nil
}

// errRetentionID refuses a change of retention_id: the retention policy
// API sets it.
func errRetentionID() error {
	return errBadRequest("metadata retention_id is set by the project's retention policy: omit it, or send the current one")
}

// projectChange checks req's metadata and CVE allowlist and turns them
// into a change of project id (0 when creating it); cur is its current
// settings (nil when creating). The deprecated top-level public is read
// only when metadata.public is absent, as in Harbor.
func projectChange(req *projectReq, id int64, cur *meta.ProjectSettings) (meta.ProjectChange, error) {
	var c meta.ProjectChange
	if req.Public != nil {
		c.Public = req.Public
	}
	if id == 0 && c.Public == nil {
		c.Public = new(bool)
	}
	for _, k := range slices.Sorted(maps.Keys(req.Metadata)) {
		v := req.Metadata[k]
		switch {
		case k == "public" && v == "": // absent (go-client sends "" for unset)
			continue
		case k == "retention_id":
			if v == "" || cur != nil && cur.Metadata[k] == v {
				continue // Harbor: omitted, empty or unchanged
			}
			return c, errRetentionID()
		}
		val, err := checkMetadata(k, v)
		if err != nil {
			return c, err
		}
		if k == "public" {
			c.Public = new(val == "true")
			continue
		}
		if c.Metadata == nil {
			c.Metadata = map[string]string{}
		}
		c.Metadata[k] = val
	}
	if req.CVEAllowlist != nil {
		l, err := req.CVEAllowlist.toMeta(id)
		if err != nil {
			return c, err
		}
		c.CVEAllowlist = l
	}
	return c, nil
}

// metadataJSON is p's metadata: its settings and public.
func metadataJSON(p *meta.Project, ps *meta.ProjectSettings) projectMetadata {
	out := projectMetadata{}
	maps.Copy(out, ps.Metadata)
	delete(out, meta.ProxyRegistryKey) // shown as the project's registry_id
	out["public"] = strconv.FormatBool(p.Public)
	return out
}

// maxCVEAllowlist bounds a project's CVE allowlist (Harbor has no bound).
const (
	maxCVEAllowlist = 1000
	maxCVEIDLength  = 128
)

// cveAllowlist is Harbor's CVEAllowlist. A project whose list was never
// set has id 0, no times and no items.
type cveAllowlist struct {
	ID           int64              `json:"id"`
	ProjectID    int64              `json:"project_id"`
	ExpiresAt    *int64             `json:"expires_at"` // seconds since the epoch; null: never
	Items        []cveAllowlistItem `json:"items"`
	CreationTime *harborTime        `json:"creation_time,omitempty"`
	UpdateTime   *harborTime        `json:"update_time,omitempty"`
}

type cveAllowlistItem struct {
	CVEID string `json:"cve_id"`
}

// cveAllowlistReq is what berth reads of a CVEAllowlist in a request: id
// and the times are the server's.
type cveAllowlistReq struct {
	ProjectID int64              `json:"project_id"`
	ExpiresAt *int64             `json:"expires_at"`
	Items     []cveAllowlistItem `json:"items"`
}

// toMeta checks the list for project id (0 when creating it): project_id
// is 0 or id, CVE ids are not empty, not repeated and at most
// maxCVEAllowlist, as Harbor's allowlist validator (plus the bound).
func (l *cveAllowlistReq) toMeta(id int64) (*meta.CVEAllowlist, error) {
	if l.ProjectID != 0 && l.ProjectID != id {
		return nil, errBadRequest(fmt.Sprintf("cve_allowlist.project_id must be %d or 0, not %d", id, l.ProjectID))
	}
	if l.ExpiresAt != nil && *l.ExpiresAt < 0 {
		return nil, errBadRequest("cve_allowlist.expires_at must be seconds since the epoch, or null for never")
	}
	if len(l.Items) > maxCVEAllowlist {
		return nil, errBadRequest(fmt.Sprintf("cve_allowlist: at most %d items", maxCVEAllowlist))
	}
	out := &meta.CVEAllowlist{ExpiresAt: l.ExpiresAt, Items: make([]string, 0, len(l.Items))}
	seen := map[string]bool{}
	for _, it := range l.Items {
		cve := strings.TrimSpace(it.CVEID)
		switch {
		case cve == "":
			return nil, errBadRequest("cve_allowlist: empty or whitespace-only CVE ID")
		case len(cve) > maxCVEIDLength:
			return nil, errBadRequest(fmt.Sprintf("cve_allowlist: CVE ID longer than %d bytes", maxCVEIDLength))
		case seen[cve]:
			return nil, errBadRequest("cve_allowlist: duplicate CVE ID " + cve)
		}
		seen[cve] = true
		out.Items = append(out.Items, cve)
	}
	return out, nil
}

func cveAllowlistJSON(l meta.CVEAllowlist) cveAllowlist {
	out := cveAllowlist{ID: l.ID, ProjectID: l.ProjectID, ExpiresAt: l.ExpiresAt, Items: []cveAllowlistItem{}}
	for _, cve := range l.Items {
		out.Items = append(out.Items, cveAllowlistItem{CVEID: cve})
	}
	if l.ID != 0 {
		c, u := harborTime(l.CreatedAt), harborTime(l.UpdatedAt)
		out.CreationTime, out.UpdateTime = &c, &u
	}
	return out
}

// createStorageLimit is the storage limit of a new project: the default
// (the setting storage_per_project) when none or 0 is asked for. Only
// system administrators set another: Harbor silently gives anyone else
// the default; berth says so (403), but for -1, which harbor-cli sends
// when it is given none: that gets the default, as in Harbor.
func createStorageLimit(id *auth.Identity, asked *int64, def int64) (*int64, error) {
	if asked == nil || *asked == 0 {
		return &def, nil
	}
	if quota.CheckLimit(*asked) != nil {
		return nil, errBadRequest(fmt.Sprintf("storage_limit must be -1 (unlimited) or from 1 to %d bytes", int64(quota.MaxLimit)))
	}
	if !id.SysAdmin && *asked != def {
		if *asked == meta.UnlimitedStorage {
			return &def, nil
		}
		return nil, errForbidden("only a system administrator may set a project's storage_limit")
	}
	return asked, nil
}
