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
			"alma 9":      {"openssl-libs": {"CVE-2024-0004": {FixedVersion: "1:3.0.7-25.el9_3"}, "CVE-2024-0005": {FixedVersion: "1:3.0.7-24.el9"}}},
			"alpine 3.19": {"openssl": {"CVE-2024-0002": {FixedVersion: "3.1.4-r5"}, "CVE-2024-0003": {FixedVersion: "3.1.4-r5", AffectedVersion: "3.1.4-r2"}}},
			"go::The Go Vulnerability Database": {"github.com/Masterminds/semver/v3": {
				"GO-2099-0001": {VulnerableVersions: []string{">=3.0.0, <3.6.0"}, PatchedVersions: []string{">=3.6.0"}},
				"GO-2099-0002": {VulnerableVersions: []string{"<3.1.0"}}}},
		},
		Vulnerabilities: map[string]vulndb.Vulnerability{
			"CVE-2024-0001":  {VendorSeverity: map[string]vulndb.Severity{"debian": vulndb.SeverityHigh, "nvd": vulndb.SeverityLow}},
			"CVE-2024-0002":  {VendorSeverity: map[string]vulndb.Severity{"nvd": vulndb.SeverityMedium}},
			"CVE-2023-45853": {Severity: "LOW"},
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
		{"GO-2099-0001", "github.com/Masterminds/semver/v3", "3.6.0", vulndb.SeverityUnknown},
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
	if got[1].DataSourceNm != "Debian Security Tracker" {
		t.Errorf("data source = %+v", got[1])
	}

	alp := catalog.Result{OS: catalog.OS{ID: "alpine", VersionID: "3.19.1"}, Packages: []catalog.Package{
		{Type: "apk", Name: "libcrypto3", Version: "3.1.4-r1", SrcName: "openssl", SrcVersion: "3.1.4-r1"},
	}}
	got, _ = match.Match(db, alp)
	if len(got) != 1 || got[0].ID != "CVE-2024-0002" || got[0].Severity != vulndb.SeverityMedium {
		t.Fatalf("alpine findings = %+v", got)
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
