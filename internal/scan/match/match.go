// Package match finds the vulnerabilities of a catalogue in the
// vulnerability database, with Trivy's detector rules (trivy
// pkg/detector/ospkg/<distro>, pkg/detector/library/compare) and
// per-ecosystem version comparers: dpkg for Debian and Ubuntu, apk for
// Alpine, rpm for Red Hat Enterprise Linux (UBI too), CentOS, Alma,
// Rocky, Oracle and Amazon Linux, semver for Go modules. Pure functions
// over a vulndb.DB.
package match

import (
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	apkver "github.com/knqyf263/go-apk-version"
	debver "github.com/knqyf263/go-deb-version"
	rpmver "github.com/knqyf263/go-rpm-version"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// Finding is one vulnerability of one package.
type Finding struct {
	ID           string          `json:"id"`
	Package      string          `json:"package"`
	Version      string          `json:"version"`
	FixVersion   string          `json:"fix_version"`
	Severity     vulndb.Severity `json:"severity"`
	Type         string          `json:"type"`
	Layer        string          `json:"layer"`
	Path         string          `json:"path"`
	DataSource   string          `json:"data_source,omitempty"` // the data-source ID ("debian")
	DataSourceNm string          `json:"data_source_name,omitempty"`
	DataSourceU  string          `json:"data_source_url,omitempty"`
	// Status is the vendor's state of an unfixed vulnerability
	// ("affected", "will_not_fix", …; "fixed" with a fix), where the
	// source says (Red Hat).
	Status string `json:"status,omitempty"`
	// VendorIDs are the vendor's advisories that fix it ("RHSA-2024:1234").
	VendorIDs []string `json:"vendor_ids,omitempty"`
}

// Source is what matching reads: a vulndb.DB.
type Source interface {
	Advisories(platform, pkg string) ([]vulndb.Advisory, error)
	Vulnerability(id string) (vulndb.Vulnerability, bool)
	DataSource(platform string) vulndb.DataSource
	RedHatAdvisories(pkg string) ([]vulndb.RedHatAdvisory, error)
	RedHatCPEIndices(repositories, nvrs []string) ([]int, error)
}

// Match returns the findings of res in db, sorted by package, then id.
func Match(db Source, res catalog.Result) ([]Finding, error) {
	out := []Finding{}
	platform := osPlatform(res.OS)
	var redHat *redHatMatcher
	if isRedHat(res.OS.ID) && platform != "" {
		redHat = newRedHatMatcher(db, &res)
	}
	for _, p := range res.Packages {
		var fs []Finding
		var err error
		switch p.Type {
		case catalog.TypeDeb:
			if platform != "" && (res.OS.ID == "debian" || res.OS.ID == "ubuntu") {
				fs, err = matchDeb(db, platform, p)
			}
		case catalog.TypeAPK:
			if res.OS.ID == "alpine" {
				fs, err = matchAPK(db, platform, p)
			}
		case catalog.TypeRPM:
			switch {
			case redHat != nil:
				fs, err = redHat.match(p)
			case platform != "" && rpmFamily[res.OS.ID]:
				fs, err = matchRPM(db, platform, p)
			}
		case catalog.TypeGoBinary:
			fs, err = matchGo(db, p)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Path < b.Path
	})
	return out, nil
}

// rpmFamily are the rpm distributions matched by binary package in their
// own bucket, as Trivy's detectors for them (Red Hat and CentOS are
// matched apart, through content sets: redhat.go).
var rpmFamily = map[string]bool{"almalinux": true, "rocky": true, "ol": true, "amzn": true}

// Supported reports whether the OS packages of o are matched (its
// language packages always are).
func Supported(o catalog.OS) bool { return osPlatform(o) != "" }

// osPlatform is the root bucket of an OS: "debian 12" (major version),
// "ubuntu 22.04", "alpine 3.19" (major.minor), "alma 9", "rocky 9",
// "Oracle Linux 8", "amazon linux 2"; "Red Hat" for every RHEL and
// CentOS version.
func osPlatform(o catalog.OS) string {
	v := o.VersionID
	major, _, _ := strings.Cut(v, ".")
	if major == "" {
		return ""
	}
	switch o.ID {
	case "almalinux":
		return "alma " + major
	case "rocky":
		return "rocky " + major
	case "ol":
		return "Oracle Linux " + major
	case "amzn":
		return "amazon linux " + major
	case "rhel", "centos":
		return vulndb.BucketRedHat
	case "debian":
		v = major
	case "alpine":
		parts := strings.SplitN(v, ".", 3)
		if len(parts) >= 2 {
			v = parts[0] + "." + parts[1]
		}
	case "ubuntu":
	default:
		return ""
	}
	if v == "" {
		return ""
	}
	return o.ID + " " + v
}

func finding(db Source, p catalog.Package, a vulndb.Advisory, fixed string) Finding {
	ds := db.DataSource(a.Bucket)
	f := Finding{ID: a.VulnerabilityID, Package: p.Name, Version: p.Version, FixVersion: fixed, Type: p.Type,
		Layer: p.Layer, Path: p.Path, DataSource: ds.ID, DataSourceNm: ds.Name, DataSourceU: ds.URL}
	f.Severity = severity(db, a, ds.ID)
	return f
}

// severity is Trivy's choice: the package's own advisory severity, else
// the vendor's for this data source, else NVD's (GHSA's for GHSA ids),
// else the deprecated severity string, else unknown.
func severity(db Source, a vulndb.Advisory, source string) vulndb.Severity {
	if a.Severity != vulndb.SeverityUnknown {
		return a.Severity
	}
	v, ok := db.Vulnerability(a.VulnerabilityID)
	if !ok {
		return vulndb.SeverityUnknown
	}
	if s, ok := v.VendorSeverity[source]; ok && source != "" {
		return s
	}
	fallback := "nvd"
	if strings.HasPrefix(a.VulnerabilityID, "GHSA-") {
		fallback = "ghsa"
	}
	if s, ok := v.VendorSeverity[fallback]; ok {
		return s
	}
	return vulndb.ParseSeverity(v.Severity)
}

// matchDeb: Debian and Ubuntu advisories are by source package; an empty
// fixed version means unfixed (vulnerable); else vulnerable iff the
// source version is older than the fix.
func matchDeb(db Source, platform string, p catalog.Package) ([]Finding, error) {
	advs, err := db.Advisories(platform, p.SrcName)
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	installed, err := debver.NewVersion(p.SrcVersion)
	if err != nil {
		return nil, nil // Trivy skips what it cannot parse
	}
	var out []Finding
	for _, a := range advs {
		if a.FixedVersion != "" {
			fixed, err := debver.NewVersion(a.FixedVersion)
			if err != nil || !installed.LessThan(fixed) {
				continue
			}
		}
		out = append(out, finding(db, p, a, a.FixedVersion))
	}
	return out, nil
}

// matchAPK: Alpine advisories are by origin; an affected version, if
// given, must not be above the installed one; vulnerable iff older than
// the fix (Trivy reports no unfixed Alpine advisories).
func matchAPK(db Source, platform string, p catalog.Package) ([]Finding, error) {
	advs, err := db.Advisories(platform, p.SrcName)
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	installed, err := apkver.NewVersion(p.SrcVersion)
	if err != nil {
		return nil, nil
	}
	var out []Finding
	for _, a := range advs {
		if a.AffectedVersion != "" {
			if affected, err := apkver.NewVersion(a.AffectedVersion); err != nil || installed.LessThan(affected) {
				continue
			}
		}
		fixed, err := apkver.NewVersion(a.FixedVersion)
		if err != nil || !installed.LessThan(fixed) {
			continue
		}
		out = append(out, finding(db, p, a, a.FixedVersion))
	}
	return out, nil
}

// matchRPM: Alma, Rocky, Oracle and Amazon advisories are by binary
// package; vulnerable iff the installed EPOCH:VERSION-RELEASE is older
// than the fix under rpm ordering (unfixed ones are not reported, as
// Trivy).
func matchRPM(db Source, platform string, p catalog.Package) ([]Finding, error) {
	advs, err := db.Advisories(platform, p.Name)
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	installed := rpmver.NewVersion(p.Version)
	var out []Finding
	for _, a := range advs {
		if a.FixedVersion == "" || !installed.LessThan(rpmver.NewVersion(a.FixedVersion)) {
			continue
		}
		out = append(out, finding(db, p, a, a.FixedVersion))
	}
	return out, nil
}

// matchGo: Go modules against every "go::" source: vulnerable if within
// VulnerableVersions (when given) and within none of the patched or
// unaffected versions (Trivy's compare.IsVulnerable).
func matchGo(db Source, p catalog.Package) ([]Finding, error) {
	advs, err := db.Advisories("go::", p.Name)
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	v, err := semver.NewVersion(p.Version)
	if err != nil {
		return nil, nil
	}
	var out []Finding
	seen := map[string]bool{}
	for _, a := range advs {
		if seen[a.VulnerabilityID] || !goVulnerable(v, a) {
			continue
		}
		seen[a.VulnerabilityID] = true
		out = append(out, finding(db, p, a, strings.Join(fixedOf(a.PatchedVersions), ", ")))
	}
	return out, nil
}

func goVulnerable(v *semver.Version, a vulndb.Advisory) bool {
	matched := false
	if len(a.VulnerableVersions) > 0 {
		c, err := semver.NewConstraint(strings.Join(a.VulnerableVersions, " || "))
		if err != nil || !c.Check(v) {
			return false
		}
		matched = true
	}
	secure := append(append([]string(nil), a.PatchedVersions...), a.UnaffectedVersions...)
	if len(secure) == 0 {
		return matched
	}
	c, err := semver.NewConstraint(strings.Join(secure, " || "))
	if err != nil {
		return false
	}
	return !c.Check(v)
}

// fixedOf turns patched constraints into the versions a report shows
// (">=1.2.3" → "1.2.3").
func fixedOf(patched []string) []string {
	var out []string
	for _, p := range patched {
		for _, part := range strings.Split(p, ",") {
			part = strings.TrimSpace(part)
			if strings.HasPrefix(part, ">=") {
				out = append(out, strings.TrimSpace(strings.TrimPrefix(part, ">=")))
			}
		}
	}
	return out
}
