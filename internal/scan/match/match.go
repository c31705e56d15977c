// Package match finds the vulnerabilities of a catalogue in the
// vulnerability database, with Trivy's detector rules (trivy
// pkg/detector/ospkg/<distro>, pkg/detector/library/compare) and
// per-ecosystem version comparers: dpkg for Debian and Ubuntu, apk for
// Alpine, rpm for Red Hat Enterprise Linux (UBI too), CentOS, Alma,
// Rocky, Oracle and Amazon Linux, semver for Go modules. Pure functions
// over a vulndb.DB.
package match

import (
	"slices"
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
		if p.Name == "gpg-pubkey" && p.Type == catalog.TypeRPM {
			continue // a key, no real version: never matched (Trivy's ospkg.Detector)
		}
		if p.ThirdParty {
			continue // the distribution's advisories do not describe it (Trivy's DropThirdPartyPackages)
		}
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
				fs, err = matchRPM(db, res.OS.ID, platform, p)
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
// "Oracle Linux 8", "amazon linux 2" (2, 2022, 2023; any other version,
// such as 2018.03, is Amazon Linux 1, as Trivy's detector has it); "Red
// Hat" for every RHEL and CentOS version.
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
		if major != "2" && major != "2022" && major != "2023" {
			major = "1"
		}
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

// severity is Trivy's choice (vulnerability.Client.FillInfo): a
// package-specific severity where the detector reads one (Debian's and Red
// Hat's only), else the vendor's for this data source, else GitHub's for
// GHSA ids, else NVD's, else the deprecated severity string, else unknown.
func severity(db Source, a vulndb.Advisory, source string) vulndb.Severity {
	if a.Severity != vulndb.SeverityUnknown && (strings.HasPrefix(a.Bucket, "debian ") || a.Bucket == vulndb.BucketRedHat) {
		return a.Severity
	}
	v, ok := db.Vulnerability(a.VulnerabilityID)
	if !ok {
		return vulndb.SeverityUnknown
	}
	if s, ok := v.VendorSeverity[source]; ok && source != "" {
		return s
	}
	fallbacks := []string{"nvd"}
	if strings.HasPrefix(a.VulnerabilityID, "GHSA-") {
		fallbacks = []string{"ghsa", "nvd"}
	}
	for _, f := range fallbacks {
		if s, ok := v.VendorSeverity[f]; ok {
			return s
		}
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
// the fix, or when no fix is given (Alpine's secdb has none such, but
// Trivy's rule reports them).
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
		if a.FixedVersion != "" {
			fixed, err := apkver.NewVersion(a.FixedVersion)
			if err != nil || !installed.LessThan(fixed) {
				continue
			}
		}
		out = append(out, finding(db, p, a, a.FixedVersion))
	}
	return out, nil
}

// matchRPM: Alma, Rocky, Oracle and Amazon advisories are by binary
// package; vulnerable iff the installed EPOCH:VERSION-RELEASE is older
// than the fix under rpm ordering (unfixed ones are not reported, as
// Trivy); Rocky and Alma look modular packages up in their module
// stream ("nodejs:10::npm"). Rocky and Oracle advisories hold one entry per fix with the
// architectures it is for (only the package's own count); Oracle's fips
// and ksplice builds are matched only with fixes of the same flavor;
// Rocky and Alma show the fix as parsed (no "0:" epoch), as Trivy does.
func matchRPM(db Source, osID, platform string, p catalog.Package) ([]Finding, error) {
	name := p.Name
	if osID == "rocky" || osID == "almalinux" {
		// Modular packages are filed under their module stream; Alma's
		// modular builds without a label are skipped (an AlmaLinux bug
		// Trivy works around the same way).
		if osID == "almalinux" && p.Modularitylabel == "" && strings.Contains(p.Version, ".module_el") {
			return nil, nil
		}
		name = modularName(p.Name, p.Modularitylabel)
	}
	advs, err := db.Advisories(platform, name)
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	if osID == "rocky" || osID == "ol" {
		advs = archEntries(advs, p.Arch)
	}
	installed := rpmver.NewVersion(p.Version)
	var out []Finding
	for _, a := range advs {
		if a.FixedVersion == "" || (osID == "ol" && oracleFlavor(a.FixedVersion) != oracleFlavor(p.Version)) {
			continue
		}
		fixed := rpmver.NewVersion(a.FixedVersion)
		if !installed.LessThan(fixed) {
			continue
		}
		shown := a.FixedVersion
		if osID == "rocky" || osID == "almalinux" {
			shown = fixed.String()
		}
		out = append(out, finding(db, p, a, shown))
	}
	return out, nil
}

// archEntries replaces each advisory that has entries by those of its
// entries for arch (trivy-db's Rocky and Oracle Get); one without entries
// (an older file) stays as it is.
func archEntries(advs []vulndb.Advisory, arch string) []vulndb.Advisory {
	var out []vulndb.Advisory
	for _, a := range advs {
		if len(a.Entries) == 0 {
			out = append(out, a)
			continue
		}
		for _, e := range a.Entries {
			if slices.Contains(e.Arches, arch) {
				e.VulnerabilityID, e.Bucket = a.VulnerabilityID, a.Bucket
				out = append(out, e)
			}
		}
	}
	return out
}

// oracleFlavor is trivy-db's oracleoval.PackageFlavor of a version:
// "fips" (release ending in _fips), "ksplice" (a release part starting
// with ksplice) or "normal".
func oracleFlavor(v string) string {
	v = strings.ToLower(v)
	if strings.HasSuffix(v, "_fips") {
		return "fips"
	}
	for _, s := range strings.Split(v, ".") {
		if strings.HasPrefix(s, "ksplice") {
			return "ksplice"
		}
	}
	return "normal"
}

// matchGo: Go modules against every "go::" source: vulnerable if within
// VulnerableVersions (when given) and within none of the patched or
// unaffected versions (Trivy's compare.IsVulnerable); the fix shown is
// Trivy's createFixedVersions.
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
		out = append(out, finding(db, p, a, fixedVersions(a)))
	}
	return out, nil
}

func goVulnerable(v *semver.Version, a vulndb.Advisory) bool {
	// An empty range in either list is a match, whatever the version.
	if slices.Contains(a.VulnerableVersions, "") || slices.Contains(a.PatchedVersions, "") {
		return true
	}
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

// fixedVersions is what a report shows as the fix: the patched versions
// as stored (trivy-db keeps OSV's "fixed" events there, plain versions),
// else the bounds of the "<X" vulnerable ranges; duplicates dropped,
// joined with ", ".
func fixedVersions(a vulndb.Advisory) string {
	fixed := a.PatchedVersions
	if len(fixed) == 0 {
		for _, r := range a.VulnerableVersions {
			for _, part := range strings.Split(r, ",") {
				part = strings.TrimSpace(part)
				if strings.HasPrefix(part, "<") && !strings.HasPrefix(part, "<=") {
					fixed = append(fixed, strings.TrimSpace(strings.TrimPrefix(part, "<")))
				}
			}
		}
	}
	var out []string
	for _, f := range fixed {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return strings.Join(out, ", ")
}
