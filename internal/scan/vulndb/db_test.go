package vulndb_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/scan/scantest"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

func fixture() scantest.DB {
	return scantest.DB{
		Advisories: map[string]map[string]map[string]vulndb.Advisory{
			"debian 12":                         {"openssl": {"CVE-2024-0001": {FixedVersion: "3.0.13-1~deb12u1"}}},
			"go::The Go Vulnerability Database": {"github.com/x/y": {"GO-2099-0001": {VulnerableVersions: []string{"<1.2.0"}}}},
			"go::GitHub Security Advisory Go":   {"github.com/x/y": {"GHSA-1": {PatchedVersions: []string{">=1.0.0"}}}},
		},
		Vulnerabilities: map[string]vulndb.Vulnerability{"CVE-2024-0001": {Title: "t", VendorSeverity: map[string]vulndb.Severity{"debian": vulndb.SeverityHigh}}},
		DataSources:     map[string]vulndb.DataSource{"debian 12": {ID: "debian", Name: "Debian Security Tracker"}},
	}
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// TestManager: a valid layer is installed and read; broken ones are
// refused and the active database stays; a swap keeps a reader's handle
// usable until it releases it.
func TestManager(t *testing.T) {
	m := &vulndb.Manager{Dir: t.TempDir()}
	defer m.Close()
	if _, err := m.Install("sha256:aa", opener(scantest.DBLayer(t, fixture()))); err != nil {
		t.Fatal(err)
	}
	db, release := m.Acquire()
	advs, err := db.Advisories("debian 12", "openssl")
	if err != nil || len(advs) != 1 || advs[0].VulnerabilityID != "CVE-2024-0001" || advs[0].FixedVersion != "3.0.13-1~deb12u1" {
		t.Fatalf("advisories = %+v, %v", advs, err)
	}
	goAdvs, _ := db.Advisories("go::", "github.com/x/y")
	if len(goAdvs) != 2 {
		t.Fatalf("go advisories = %+v", goAdvs)
	}
	if v, ok := db.Vulnerability("CVE-2024-0001"); !ok || v.VendorSeverity["debian"] != vulndb.SeverityHigh {
		t.Fatalf("vulnerability = %+v", v)
	}
	if ds := db.DataSource("debian 12"); ds.ID != "debian" {
		t.Fatalf("data source = %+v", ds)
	}

	broken := map[string][]byte{
		"version 3": scantest.DBLayer(t, scantest.DB{Version: 3, Advisories: fixture().Advisories, Vulnerabilities: fixture().Vulnerabilities}),
		"no vulns":  scantest.DBLayer(t, scantest.DB{Advisories: fixture().Advisories}),
		"not gzip":  []byte("hello"),
		"no db":     scantest.Layer(t, scantest.File{Path: "metadata.json", Body: []byte(`{"Version":2}`)}),
		"bad bolt":  scantest.Layer(t, scantest.File{Path: "trivy.db", Body: bytes.Repeat([]byte("x"), 8192)}, scantest.File{Path: "metadata.json", Body: []byte(`{"Version":2}`)}),
	}
	for name, layer := range broken {
		if _, err := m.Install("sha256:"+name, opener(layer)); !vulndb.IsInvalid(err) {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
		if d, _, _ := m.Active(); d != "sha256:aa" {
			t.Errorf("%s: active = %s", name, d)
		}
	}

	f2 := fixture()
	f2.Advisories["debian 12"]["openssl"]["CVE-2024-0001"] = vulndb.Advisory{FixedVersion: "1"}
	if _, err := m.Install("sha256:bb", opener(scantest.DBLayer(t, f2))); err != nil {
		t.Fatal(err)
	}
	// The old handle still reads until released.
	if advs, err := db.Advisories("debian 12", "openssl"); err != nil || advs[0].FixedVersion != "3.0.13-1~deb12u1" {
		t.Fatalf("old handle after swap: %+v %v", advs, err)
	}
	release()
	db2, release2 := m.Acquire()
	defer release2()
	if advs, _ := db2.Advisories("debian 12", "openssl"); advs[0].FixedVersion != "1" || db2.Digest != "sha256:bb" {
		t.Fatalf("new db: %+v", advs)
	}
	ents, _ := os.ReadDir(m.Dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("dirs kept = %v", names)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "sha256-bb", "trivy.db")); err != nil {
		t.Fatal(err)
	}
}
