package match_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/scantest"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// redHatDB is a database in trivy-db's Red Hat layout. CPE indices:
// 0 RHEL 7 server, 1 RHEL 8 BaseOS, 2 RHEL 8 AppStream, 3 Red Hat
// Software Collections 3 for RHEL 8 (a product the test images lack).
func redHatDB(t *testing.T) *vulndb.DB {
	layer := scantest.DBLayer(t, scantest.DB{
		RedHat: map[string]map[string]string{
			"openssl-libs": {
				// Fixed on RHEL 8 and RHEL 7, in different versions.
				"RHSA-2022:1065": `{"Entries":[
					{"FixedVersion":"1:1.1.1k-6.el8_5","Affected":[1],"Cves":[{"ID":"CVE-2022-0778","Severity":3}]},
					{"FixedVersion":"1:1.0.2k-24.el7_9","Affected":[0],"Cves":[{"ID":"CVE-2022-0778","Severity":3}]}]}`,
				// Fixed only in Software Collections' build: a false
				// positive for an image without that content set.
				"RHSA-2099:0001": `{"Entries":[{"FixedVersion":"1:1.1.1k-99.el8","Affected":[3],"Cves":[{"ID":"CVE-2099-0001","Severity":4}]}]}`,
				// Unfixed, "Will not fix" on RHEL 8.
				"CVE-2099-0002": `{"Entries":[{"Status":5,"Affected":[1],"Cves":[{"Severity":1}]}]}`,
				// Unfixed, "Affected", no severity in the entry.
				"CVE-2099-0003": `{"Entries":[{"Status":2,"Affected":[1,2],"Cves":[{}]}]}`,
				// Fixed for x86_64 only.
				"RHSA-2099:0004": `{"Entries":[{"FixedVersion":"1:1.1.1k-10.el8","Arches":["x86_64"],"Affected":[1],"Cves":[{"ID":"CVE-2099-0004","Severity":2}]}]}`,
				// The same CVE unfixed under its id and fixed by an RHSA:
				// the entry with the latest fix wins.
				"CVE-2099-0005":  `{"Entries":[{"Status":2,"Affected":[1],"Cves":[{"Severity":2}]}]}`,
				"RHSA-2099:0005": `{"Entries":[{"FixedVersion":"1:1.1.1k-11.el8","Affected":[1],"Cves":[{"ID":"CVE-2099-0005","Severity":2}]}]}`,
			},
			"tzdata": {"RHSA-2099:0009": `{"Entries":[{"FixedVersion":"2099a-1.el8","Arches":["x86_64","aarch64"],"Affected":[1],"Cves":[{"ID":"CVE-2099-0009","Severity":1}]}]}`},
			// A modular package's advisories are filed under its stream.
			"nodejs:10::npm": {"RHSA-2099:0006": `{"Entries":[{"FixedVersion":"1:6.14.11-1.10.24.0.1.module+el8.3.0+9671+154373c8","Affected":[2],"Cves":[{"ID":"CVE-2099-0006","Severity":3}]}]}`},
			"npm":            {"RHSA-2099:0007": `{"Entries":[{"FixedVersion":"1:9.0.0-1.el8","Affected":[2],"Cves":[{"ID":"CVE-2099-0007","Severity":3}]}]}`},
			"bash":           {"CVE-2099-0008": `{"Entries":[{"Status":4,"Affected":[0],"Cves":[{"Severity":2}]}]}`},
			"epochpkg":       {"RHSA-2099:0010": `{"Entries":[{"FixedVersion":"1:1.0-1.el8","Affected":[1],"Cves":[{"ID":"CVE-2099-0010","Severity":2}]}]}`},
		},
		RedHatRepositories: map[string][]int{
			"rhel-7-server-rpms":               {0},
			"rhel-8-for-x86_64-baseos-rpms":    {1},
			"rhel-8-for-x86_64-appstream-rpms": {2},
			"rhel-8-for-s390x-baseos-rpms":     {1},
			"rhel-8-for-s390x-appstream-rpms":  {2},
			"rhel-server-rhscl-8-rpms":         {3},
		},
		RedHatNVRs: map[string][]int{"ubi8-container-8.3-227-x86_64": {1, 2}},
		RedHatCPEs: []string{"cpe:/o:redhat:enterprise_linux:7::server", "cpe:/o:redhat:enterprise_linux:8::baseos",
			"cpe:/a:redhat:enterprise_linux:8::appstream", "cpe:/a:redhat:rhel_software_collections:3::el8"},
		Vulnerabilities: map[string]vulndb.Vulnerability{
			"CVE-2022-0778": {VendorSeverity: map[string]vulndb.Severity{"redhat": vulndb.SeverityMedium, "nvd": vulndb.SeverityCritical}},
			"CVE-2099-0003": {VendorSeverity: map[string]vulndb.Severity{"redhat": vulndb.SeverityMedium, "nvd": vulndb.SeverityHigh}},
		},
		DataSources: map[string]vulndb.DataSource{"Red Hat": {ID: "redhat-oval", Name: "Red Hat OVAL v2", URL: "https://www.redhat.com/security/data/oval/v2/"}},
	})
	m := &vulndb.Manager{Dir: t.TempDir()}
	t.Cleanup(func() { m.Close() })
	db, err := m.Install("sha256:rh", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestRedHat: Trivy's Red Hat detector rules, case by case. Each want
// line is "id package fix severity status vendor-id".
func TestRedHat(t *testing.T) {
	db := redHatDB(t)
	// The build informations of the images, by BuildInfoRef.
	const none, ubiS390x, ubiX86, withSCL, nvrOnly = 0, 1, 2, 3, 4
	builds := []catalog.BuildInfo{
		{ContentSets: []string{"rhel-8-for-s390x-baseos-rpms__8", "rhel-8-for-s390x-appstream-rpms"}},
		{ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms", "rhel-8-for-x86_64-appstream-rpms"}},
		{ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms", "rhel-server-rhscl-8-rpms"}},
		{NVR: "ubi8-container-8.3-227", Arch: "x86_64"},
	}
	openssl := func(version, arch string, build int) catalog.Package {
		return catalog.Package{Type: "rpm", Name: "openssl-libs", Version: version, Arch: arch, SrcName: "openssl", BuildInfoRef: build}
	}
	rhel8 := catalog.OS{ID: "rhel", VersionID: "8.5"}
	for _, c := range []struct {
		name string
		os   catalog.OS
		pkgs []catalog.Package
		want []string
	}{
		{"ubi s390x: fixed, will not fix, affected; arch and CPE filters", rhel8,
			[]catalog.Package{openssl("1:1.1.1k-5.el8_5", "s390x", ubiS390x)}, []string{
				"CVE-2022-0778 openssl-libs 1:1.1.1k-6.el8_5 3 fixed RHSA-2022:1065",
				"CVE-2099-0002 openssl-libs  1 will_not_fix ",
				"CVE-2099-0003 openssl-libs  2 affected ",
				"CVE-2099-0005 openssl-libs 1:1.1.1k-11.el8 2 fixed RHSA-2099:0005",
			}},
		{"x86_64 gets the x86_64-only fix; the installed fix is not reported", rhel8,
			[]catalog.Package{openssl("1:1.1.1k-6.el8_5", "x86_64", ubiX86)}, []string{
				"CVE-2099-0002 openssl-libs  1 will_not_fix ",
				"CVE-2099-0003 openssl-libs  2 affected ",
				"CVE-2099-0004 openssl-libs 1:1.1.1k-10.el8 2 fixed RHSA-2099:0004",
				"CVE-2099-0005 openssl-libs 1:1.1.1k-11.el8 2 fixed RHSA-2099:0005",
			}},
		{"a content set of another product brings its advisory", rhel8,
			[]catalog.Package{openssl("1:1.1.1k-11.el8", "x86_64", withSCL)}, []string{
				"CVE-2099-0001 openssl-libs 1:1.1.1k-99.el8 4 fixed RHSA-2099:0001",
				"CVE-2099-0002 openssl-libs  1 will_not_fix ",
				"CVE-2099-0003 openssl-libs  2 affected ",
			}},
		{"noarch matches arch-specific entries", rhel8,
			[]catalog.Package{{Type: "rpm", Name: "tzdata", Version: "2022a-1.el8", Arch: "noarch", BuildInfoRef: ubiS390x}}, []string{
				"CVE-2099-0009 tzdata 2099a-1.el8 1 fixed RHSA-2099:0009",
			}},
		{"build NVR and arch without content sets", rhel8,
			[]catalog.Package{openssl("1:1.1.1k-11.el8", "x86_64", nvrOnly)}, []string{
				"CVE-2099-0002 openssl-libs  1 will_not_fix ",
				"CVE-2099-0003 openssl-libs  2 affected ",
			}},
		{"epoch: 2.0 without epoch is older than 1:1.0", rhel8,
			[]catalog.Package{{Type: "rpm", Name: "epochpkg", Version: "2.0-1.el8", Arch: "x86_64", BuildInfoRef: ubiX86},
				{Type: "rpm", Name: "epochpkg", Version: "1:1.0-1.el8", Arch: "x86_64", BuildInfoRef: ubiX86, Path: "b"}}, []string{
				"CVE-2099-0010 epochpkg 1:1.0-1.el8 2 fixed RHSA-2099:0010",
			}},
		{"centos 8: default content sets; a modular package by its stream", catalog.OS{ID: "centos", VersionID: "8"},
			[]catalog.Package{
				{Type: "rpm", Name: "npm", Version: "1:6.14.4-1.10.21.0.3.module_el8.2.0+391+8da3adc6", Arch: "x86_64",
					Modularitylabel: "nodejs:10:8020020200707141642:6a468ee4"},
				openssl("1:1.1.1c-15.el8", "x86_64", none),
			}, []string{
				"CVE-2099-0006 npm 1:6.14.11-1.10.24.0.1.module+el8.3.0+9671+154373c8 3 fixed RHSA-2099:0006",
				"CVE-2022-0778 openssl-libs 1:1.1.1k-6.el8_5 3 fixed RHSA-2022:1065",
				"CVE-2099-0002 openssl-libs  1 will_not_fix ",
				"CVE-2099-0003 openssl-libs  2 affected ",
				"CVE-2099-0004 openssl-libs 1:1.1.1k-10.el8 2 fixed RHSA-2099:0004",
				"CVE-2099-0005 openssl-libs 1:1.1.1k-11.el8 2 fixed RHSA-2099:0005",
			}},
		{"centos 7: RHEL 7's entries only", catalog.OS{ID: "centos", VersionID: "7"},
			[]catalog.Package{openssl("1:1.0.2k-19.el7", "x86_64", none), {Type: "rpm", Name: "bash", Version: "4.2.46-34.el7", Arch: "x86_64"}}, []string{
				"CVE-2099-0008 bash  2 under_investigation ",
				"CVE-2022-0778 openssl-libs 1:1.0.2k-24.el7_9 3 fixed RHSA-2022:1065",
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := match.Match(db, catalog.Result{OS: c.os, Packages: c.pkgs, BuildInfos: builds})
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, f := range got {
				lines = append(lines, strings.Join([]string{f.ID, f.Package, f.FixVersion, string(rune('0' + f.Severity)), f.Status, strings.Join(f.VendorIDs, ",")}, " "))
				if f.DataSource != "redhat-oval" || f.DataSourceNm != "Red Hat OVAL v2" {
					t.Errorf("data source of %s = %q %q", f.ID, f.DataSource, f.DataSourceNm)
				}
			}
			if !reflect.DeepEqual(lines, c.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestRedHatUnknownContentSets: content sets the database does not know
// fail the match, as in Trivy, rather than report nothing.
func TestRedHatUnknownContentSets(t *testing.T) {
	db := redHatDB(t)
	res := catalog.Result{OS: catalog.OS{ID: "rhel", VersionID: "9.4"}, Packages: []catalog.Package{
		{Type: "rpm", Name: "bash", Version: "5.1.8-9.el9", Arch: "x86_64", BuildInfoRef: 1}},
		BuildInfos: []catalog.BuildInfo{{ContentSets: []string{"some-third-party-rpms"}}}}
	if _, err := match.Match(db, res); !errors.Is(err, match.ErrNoRedHatCPE) {
		t.Fatalf("err = %v", err)
	}
	if !match.Supported(catalog.OS{ID: "rhel", VersionID: "9.4"}) || !match.Supported(catalog.OS{ID: "centos", VersionID: "7"}) {
		t.Fatal("rhel and centos are not supported")
	}
}

// TestRedHatUBIImage: end to end, a UBI image (go-rpmdb's real
// ubi8-s390x rpm database and a content manifest) catalogued and
// matched: the RHEL 8 fix of its openssl-libs is found, the fix filed
// for another product's CPE is not, nor RHEL 7's.
func TestRedHatUBIImage(t *testing.T) {
	layer := scantest.DBLayer(t, scantest.DB{
		RedHat: map[string]map[string]string{
			"openssl-libs": {
				"RHSA-2022:5818": `{"Entries":[{"FixedVersion":"1:1.1.1k-7.el8_6","Arches":["aarch64","ppc64le","s390x","x86_64"],"Affected":[1],"Cves":[{"ID":"CVE-2022-1292","Severity":2}]}]}`,
				"RHSA-2099:0001": `{"Entries":[{"FixedVersion":"1:1.1.1k-99.el8","Affected":[3],"Cves":[{"ID":"CVE-2099-0001","Severity":4}]}]}`,
				"CVE-2099-0002":  `{"Entries":[{"Status":2,"Affected":[0],"Cves":[{"Severity":3}]}]}`,
			},
		},
		RedHatRepositories: map[string][]int{"rhel-8-for-s390x-baseos-rpms": {1}, "rhel-8-for-s390x-appstream-rpms": {2}, "rhel-7-server-rpms": {0}},
		Vulnerabilities:    map[string]vulndb.Vulnerability{"CVE-2022-1292": {Title: "c_rehash script allows command injection"}},
		DataSources:        map[string]vulndb.DataSource{"Red Hat": {ID: "redhat-oval", Name: "Red Hat OVAL v2"}},
	})
	m := &vulndb.Manager{Dir: t.TempDir()}
	t.Cleanup(func() { m.Close() })
	db, err := m.Install("sha256:ubi", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil })
	if err != nil {
		t.Fatal(err)
	}
	image := scantest.Layer(t,
		scantest.File{Path: "etc/os-release", Body: []byte("ID=\"rhel\"\nVERSION_ID=\"8.5\"\n")},
		scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "ubi8-s390x/Packages")},
		scantest.File{Path: "root/buildinfo/content_manifests/ubi8-minimal-container-8.5-218.json",
			Body: []byte(`{"content_sets":["rhel-8-for-s390x-baseos-rpms__8","rhel-8-for-s390x-appstream-rpms__8"]}`)})
	res, err := catalog.Catalogue(context.Background(), []catalog.Layer{{Digest: "sha256:ubi8",
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(image)), nil }}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := match.Match(db, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "CVE-2022-1292" || got[0].Version != "1:1.1.1k-6.el8_5" || got[0].FixVersion != "1:1.1.1k-7.el8_6" ||
		got[0].Severity != vulndb.SeverityMedium || got[0].Layer != "sha256:ubi8" || got[0].Status != "fixed" {
		t.Fatalf("findings = %+v", got)
	}
}
