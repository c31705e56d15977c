package match_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/scantest"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

type adv = vulndb.Advisory

func openDB(t *testing.T) *vulndb.DB {
	layer := scantest.DBLayer(t, scantest.DB{
		Advisories: map[string]map[string]map[string]adv{
			"debian 12": {
				"openssl": {"CVE-2024-0001": {FixedVersion: "3.0.13-1~deb12u1"}, "CVE-2020-0001": {FixedVersion: "1.1.0"}},
				"zlib":    {"CVE-2023-45853": {Severity: vulndb.SeverityCritical}},
			},
			"alma 9": {"openssl-libs": {"CVE-2024-0004": {FixedVersion: "1:3.0.7-25.el9_3"}, "CVE-2024-0005": {FixedVersion: "1:3.0.7-24.el9"}}},
			"alpine 3.19": {
				"openssl": {"CVE-2024-0002": {FixedVersion: "3.1.4-r5"}, "CVE-2024-0003": {FixedVersion: "3.1.4-r5", AffectedVersion: "3.1.4-r2"}},
				// Unfixed: reported; the advisory's own severity is Debian's only.
				"musl": {"CVE-2025-26519": {Severity: vulndb.SeverityCritical}},
			},
			// Rocky stores one entry per fix, with its architectures.
			"rocky 8": {
				"openssl-libs": {
					"CVE-2020-1971": {Entries: []adv{{FixedVersion: "1:1.1.1g-12.el8_3", Arches: []string{"x86_64", "aarch64"}}}},
					"CVE-2021-3449": {Entries: []adv{{FixedVersion: "1:1.1.1g-15.el8_3", Arches: []string{"aarch64"}}}},
				},
				"bash":       {"CVE-2019-18276": {FixedVersion: "0:4.4.20-1.el8_4"}}, // an older file: no entries; shown without "0:"
				"gpg-pubkey": {"CVE-2019-18277": {FixedVersion: "9.9"}},
				// A modular package is looked up in its module stream only.
				"nodejs":            {"CVE-2021-22930": {FixedVersion: "1:12.22.5-1.module+el8.4.0+595+e8d8e6a2"}},
				"nodejs:10::nodejs": {"CVE-2021-22883": {FixedVersion: "1:10.24.0-1.module+el8.3.0+101+f84c7154"}},
			},
			"Oracle Linux 8": {"openssl-libs": {
				"ELSA-1": {Entries: []adv{{FixedVersion: "1:1.1.1k-7.el8_6", Arches: []string{"x86_64"}}}},
				"ELSA-2": {Entries: []adv{{FixedVersion: "1:1.1.1k-7.el8_6_fips", Arches: []string{"x86_64"}}}},
			}},
			"amazon linux 1": {"bash": {"CVE-2019-9924": {FixedVersion: "4.2.46-34.amzn1"}}},
			// Go advisories as trivy-db stores OSV ranges: patched versions
			// are plain versions.
			"go::The Go Vulnerability Database": {"github.com/Masterminds/semver/v3": {
				"GO-2099-0001": {VulnerableVersions: []string{">=3.0.0, <3.6.0"}, PatchedVersions: []string{"3.6.0", "3.6.0"}},
				"GO-2099-0002": {VulnerableVersions: []string{"<3.1.0"}},
				"GO-2099-0003": {VulnerableVersions: []string{">=3.0.0, <3.9.0"}},
			}},
			"go::GitHub Security Advisory Go": {"github.com/Masterminds/semver/v3": {
				"GHSA-aaaa-bbbb-cccc": {VulnerableVersions: []string{"<3.7.0"}, PatchedVersions: []string{"3.7.0"}},
			}},
		},
		Vulnerabilities: map[string]vulndb.Vulnerability{
			"CVE-2024-0001":  {VendorSeverity: map[string]vulndb.Severity{"debian": vulndb.SeverityHigh, "nvd": vulndb.SeverityLow}},
			"CVE-2024-0002":  {VendorSeverity: map[string]vulndb.Severity{"nvd": vulndb.SeverityMedium}},
			"CVE-2023-45853": {Severity: "LOW"},
			// GHSA ids fall back to GitHub's severity, then NVD's.
			"GHSA-aaaa-bbbb-cccc": {VendorSeverity: map[string]vulndb.Severity{"nvd": vulndb.SeverityLow}},
		},
		DataSources: map[string]vulndb.DataSource{"debian 12": {ID: "debian", Name: "Debian Security Tracker"}, "alpine 3.19": {ID: "alpine"}},
	})
	m := &vulndb.Manager{Dir: t.TempDir()}
	t.Cleanup(func() { m.Close() })
	db, err := m.Install("sha256:x", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestMatch: Trivy's rules on each ecosystem give exactly these findings.
func TestMatch(t *testing.T) {
	db := openDB(t)
	deb := catalog.Result{OS: catalog.OS{ID: "debian", VersionID: "12.4"}, Packages: []catalog.Package{
		{Type: "deb", Name: "libssl3", Version: "3.0.11-1~deb12u2", SrcName: "openssl", SrcVersion: "3.0.11-1~deb12u2"},
		{Type: "deb", Name: "zlib1g", Version: "1:1.2.13.dfsg-1", SrcName: "zlib", SrcVersion: "1:1.2.13.dfsg-1"},
		// From a third party's repository: the distribution's advisories are not for it.
		{Type: "deb", Name: "zlib1g-docker", Version: "1.0", SrcName: "zlib", SrcVersion: "1.0", ThirdParty: true},
		{Type: "gobinary", Name: "github.com/Masterminds/semver/v3", Version: "v3.5.0"},
	}}
	got, err := match.Match(db, deb)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, pkg, fix string
		sev          vulndb.Severity
	}{
		{"GHSA-aaaa-bbbb-cccc", "github.com/Masterminds/semver/v3", "3.7.0", vulndb.SeverityLow},
		{"GO-2099-0001", "github.com/Masterminds/semver/v3", "3.6.0", vulndb.SeverityUnknown},
		{"GO-2099-0003", "github.com/Masterminds/semver/v3", "3.9.0", vulndb.SeverityUnknown},
		{"CVE-2024-0001", "libssl3", "3.0.13-1~deb12u1", vulndb.SeverityHigh},
		{"CVE-2023-45853", "zlib1g", "", vulndb.SeverityCritical},
	}
	if len(got) != len(want) {
		t.Fatalf("findings = %+v", got)
	}
	for i, w := range want {
		if g := got[i]; g.ID != w.id || g.Package != w.pkg || g.FixVersion != w.fix || g.Severity != w.sev {
			t.Errorf("finding %d = %+v, want %+v", i, g, w)
		}
	}
	if ssl := got[len(got)-2]; ssl.DataSourceNm != "Debian Security Tracker" {
		t.Errorf("data source = %+v", ssl)
	}

	alp := catalog.Result{OS: catalog.OS{ID: "alpine", VersionID: "3.19.1"}, Packages: []catalog.Package{
		{Type: "apk", Name: "libcrypto3", Version: "3.1.4-r1", SrcName: "openssl", SrcVersion: "3.1.4-r1"},
		{Type: "apk", Name: "musl", Version: "1.2.4-r2", SrcName: "musl", SrcVersion: "1.2.4-r2"},
	}}
	got, _ = match.Match(db, alp)
	if len(got) != 2 || got[0].ID != "CVE-2024-0002" || got[0].Severity != vulndb.SeverityMedium ||
		got[1].ID != "CVE-2025-26519" || got[1].FixVersion != "" || got[1].Severity != vulndb.SeverityUnknown {
		t.Fatalf("alpine findings = %+v", got)
	}
	rocky := catalog.Result{OS: catalog.OS{ID: "rocky", VersionID: "8.2"}, Packages: []catalog.Package{
		{Type: "rpm", Name: "openssl-libs", Version: "1:1.1.1c-15.el8", Arch: "x86_64"},
		{Type: "rpm", Name: "bash", Version: "4.4.19-10.el8", Arch: "x86_64"},
		{Type: "rpm", Name: "gpg-pubkey", Version: "4.4.19-10.el8", Arch: "x86_64"}, // listed, never matched
		{Type: "rpm", Name: "nodejs", Version: "1:10.21.0-3.module_el8.2.0+391+8da3adc6", Arch: "x86_64", Modularitylabel: "nodejs:10:8020020200707141642:6a468ee4"},
	}}
	got, _ = match.Match(db, rocky)
	if len(got) != 3 || got[0].ID != "CVE-2019-18276" || got[0].FixVersion != "4.4.20-1.el8_4" ||
		got[1].ID != "CVE-2021-22883" || got[1].Package != "nodejs" ||
		got[2].ID != "CVE-2020-1971" || got[2].FixVersion != "1:1.1.1g-12.el8_3" {
		t.Fatalf("rocky findings = %+v", got)
	}
	for version, want := range map[string]string{"1:1.1.1k-6.el8_5": "ELSA-1", "1:1.1.1k-6.el8_5_fips": "ELSA-2"} {
		ol := catalog.Result{OS: catalog.OS{ID: "ol", VersionID: "8.6"}, Packages: []catalog.Package{
			{Type: "rpm", Name: "openssl-libs", Version: version, Arch: "x86_64"},
		}}
		if got, _ = match.Match(db, ol); len(got) != 1 || got[0].ID != want {
			t.Fatalf("oracle findings of %s = %+v, want %s only", version, got, want)
		}
	}
	amzn := catalog.Result{OS: catalog.OS{ID: "amzn", VersionID: "2018.03"}, Packages: []catalog.Package{
		{Type: "rpm", Name: "bash", Version: "4.2.46-30.el7", Arch: "x86_64"},
	}}
	if got, _ = match.Match(db, amzn); len(got) != 1 || got[0].ID != "CVE-2019-9924" {
		t.Fatalf("amazon linux 1 findings = %+v", got)
	}
	alma := catalog.Result{OS: catalog.OS{ID: "almalinux", VersionID: "9.3"}, Packages: []catalog.Package{
		{Type: "rpm", Name: "openssl-libs", Version: "1:3.0.7-24.el9", SrcName: "openssl", SrcVersion: "1:3.0.7"},
	}}
	got, _ = match.Match(db, alma)
	if len(got) != 1 || got[0].ID != "CVE-2024-0004" || got[0].FixVersion != "1:3.0.7-25.el9_3" {
		t.Fatalf("alma findings = %+v", got)
	}
	// An OS without a bucket matches nothing.
	if got, _ := match.Match(db, catalog.Result{OS: catalog.OS{ID: "fedora", VersionID: "40"}}); len(got) != 0 {
		t.Fatal(got)
	}
}
