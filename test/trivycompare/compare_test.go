// Package trivycompare compares berth's cataloguer and matcher with the
// real Trivy on the same images and the same vulnerability database.
//
// It is opt-in (berth issue 13: "if real trivy builds here"): it runs when
// BERTH_TRIVY names a trivy binary, or when BERTH_TRIVY_COMPARE=1 and trivy
// is on PATH or in ~/.cache/berth-tools/bin; otherwise it says so and runs
// nothing. `make trivy-compare` builds trivy (from the Go module proxy) if
// it is missing and runs it.
//
// Each fixture image is built here (layers with package databases, real
// rpm databases from go-rpmdb's test data, Go binaries: a small one and,
// when it is a Go binary, the trivy binary itself) and written as a
// docker-archive tarball for `trivy image --input`; berth catalogues the
// very same layer bytes. One tiny Trivy DB v2 (made with bbolt by
// scantest, in the layout Aqua publishes, with advisories in the shapes the
// real database stores) is placed in trivy's cache directory and installed
// in berth. Package lists (type, name, version) and findings (id, package,
// installed version, fixed version, severity) must be equal, except for the
// differences listed in expected, each with its reason.
package trivycompare

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/scantest"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/test/testenv"
)

// trivyBin is the trivy binary under comparison.
var trivyBin string

func TestMain(m *testing.M) {
	bin, err := locateTrivy()
	if err != nil {
		fmt.Fprintf(os.Stderr, "trivycompare: %v\n", err)
		os.Exit(1)
	}
	if bin == "" {
		fmt.Println("trivycompare: opt-in comparison with the real Trivy, not run: set BERTH_TRIVY=/path/to/trivy, " +
			"or BERTH_TRIVY_COMPARE=1 with trivy on PATH or in ~/.cache/berth-tools/bin (`make trivy-compare` builds it and runs this)")
		os.Exit(0)
	}
	trivyBin = bin
	os.Exit(m.Run())
}

// locateTrivy: "" and no error when the comparison was not asked for; an
// error when it was asked for and trivy cannot be found.
func locateTrivy() (string, error) {
	if p := os.Getenv("BERTH_TRIVY"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("BERTH_TRIVY=%s is not an executable file", p)
		}
		return p, nil
	}
	if os.Getenv("BERTH_TRIVY_COMPARE") != "1" {
		return "", nil
	}
	if p, ok := testenv.LookTool("trivy"); ok {
		return p, nil
	}
	return "", errors.New("BERTH_TRIVY_COMPARE=1 but trivy is neither on PATH nor in ~/.cache/berth-tools/bin (make trivy-compare builds it)")
}

// image is a fixture: its layers, bottom first, each a list of files.
type image struct {
	name   string
	layers [][]scantest.File
}

func osFiles(osRelease string, extra ...scantest.File) []scantest.File {
	return append([]scantest.File{{Path: "etc/os-release", Body: []byte(osRelease)}}, extra...)
}

const debianStatus = `Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit
 Version: 9.9 (a continuation line)

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u3

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
`

// curl is added by the third layer, which rewrites the status file, and
// docker-ce from Docker's repository (a third party: not matched).
const debianStatusWithCurl = debianStatus + `
Package: curl
Status: install ok installed
Architecture: amd64
Maintainer: Alessandro Ghedini <ghedo@debian.org>
Version: 7.88.1-10+deb12u5

Package: docker-ce
Status: install ok installed
Architecture: amd64
Maintainer: Docker <support@docker.com>
Version: 5:27.0.3-1~debian.12~bookworm
`

const alpineInstalled = `C:Q1a
P:libcrypto3
V:3.1.4-r1
A:x86_64
o:openssl

C:Q1b
P:libssl3
V:3.1.4-r1
A:x86_64
o:openssl

C:Q1c
P:musl
V:1.2.4_git20230717-r4
A:x86_64
o:musl

C:Q1d
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
`

func images(t *testing.T) []image {
	gobin := scantest.GoBinary(t)
	exe := func(path string, body []byte) scantest.File {
		return scantest.File{Path: path, Body: body, Mode: 0o755}
	}
	imgs := []image{
		{name: "debian-12", layers: [][]scantest.File{
			osFiles("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
				scantest.File{Path: "etc/debian_version", Body: []byte("12.4\n")},
				scantest.File{Path: "var/lib/dpkg/status", Body: []byte(debianStatus)}),
			{exe("usr/bin/app", gobin), exe("usr/bin/old", gobin), exe("usr/bin/script", []byte("#!/bin/sh\necho hi\n"))},
			{{Path: "usr/bin/.wh.old"}, {Path: "var/lib/dpkg/status", Body: []byte(debianStatusWithCurl)}},
		}},
		{name: "distroless-debian-12", layers: [][]scantest.File{
			osFiles("ID=debian\nVERSION_ID=\"12\"\n",
				scantest.File{Path: "etc/debian_version", Body: []byte("12.4\n")},
				scantest.File{Path: "var/lib/dpkg/status.d/libssl3", Body: []byte("Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n")},
				scantest.File{Path: "var/lib/dpkg/status.d/libssl3.md5sums", Body: []byte("0123  usr/lib/libssl.so.3\n")},
				scantest.File{Path: "var/lib/dpkg/status.d/tzdata", Body: []byte("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")}),
			{exe("app", gobin)},
		}},
		{name: "ubuntu-22.04", layers: [][]scantest.File{
			osFiles("NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"22.04\"\n",
				scantest.File{Path: "etc/lsb-release", Body: []byte("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n")},
				scantest.File{Path: "var/lib/dpkg/status", Body: []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.35-0ubuntu3.6\n\nPackage: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.1-6ubuntu1.1\n")}),
		}},
		{name: "alpine-3.19", layers: [][]scantest.File{
			osFiles("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
				scantest.File{Path: "etc/alpine-release", Body: []byte("3.19.1\n")},
				scantest.File{Path: "lib/apk/db/installed", Body: []byte(alpineInstalled)}),
			{exe("usr/local/bin/app", gobin)},
		}},
		{name: "rocky-8", layers: [][]scantest.File{
			osFiles("NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"8.2\"\n",
				scantest.File{Path: "etc/rocky-release", Body: []byte("Rocky Linux release 8.2 (Green Obsidian)\n")},
				scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "centos8-modularitylabel/Packages")}),
		}},
		{name: "oraclelinux-8", layers: [][]scantest.File{
			osFiles("NAME=\"Oracle Linux Server\"\nID=\"ol\"\nVERSION_ID=\"8.2\"\n",
				scantest.File{Path: "etc/oracle-release", Body: []byte("Oracle Linux Server release 8.2\n")},
				scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "centos8-modularitylabel/Packages")}),
		}},
		{name: "ubi8-minimal", layers: [][]scantest.File{
			osFiles("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"8.5\"\n",
				scantest.File{Path: "etc/redhat-release", Body: []byte("Red Hat Enterprise Linux release 8.5 (Ootpa)\n")},
				scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "ubi8-s390x/Packages")},
				scantest.File{Path: "root/buildinfo/content_manifests/ubi8-minimal-container-8.5-218.json",
					Body: []byte(`{"content_sets":["rhel-8-for-s390x-baseos-rpms__8","rhel-8-for-s390x-appstream-rpms__8"]}`)}),
		}},
		{name: "alma-9", layers: [][]scantest.File{
			osFiles("NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"9.3\"\n",
				scantest.File{Path: "etc/almalinux-release", Body: []byte("AlmaLinux release 9.3 (Shamrock Pampas Cat)\n")},
				scantest.File{Path: "usr/lib/sysimage/rpm/rpmdb.sqlite", Body: scantest.RPMDB(t, "fedora35/rpmdb.sqlite")}),
		}},
		{name: "amazonlinux-2018.03", layers: [][]scantest.File{
			osFiles("NAME=\"Amazon Linux AMI\"\nID=\"amzn\"\nVERSION_ID=\"2018.03\"\n",
				scantest.File{Path: "etc/system-release", Body: []byte("Amazon Linux AMI release 2018.03\n")},
				scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "centos7-plain/Packages")}),
		}},
	}
	// The trivy binary itself is a real Go binary with hundreds of modules
	// (replaced ones too) and a GOEXPERIMENT in its Go version.
	if b, err := os.ReadFile(trivyBin); err == nil && bytes.HasPrefix(b, []byte("\x7fELF")) {
		imgs = append(imgs, image{name: "trivy-binary", layers: [][]scantest.File{{exe("usr/local/bin/trivy", b)}}})
	}
	return imgs
}

type adv = vulndb.Advisory
type sev = map[string]vulndb.Severity

// entries is the shape Rocky (and Oracle) advisories are stored in: one
// entry per fixed version, with the architectures it applies to.
func entries(fixed string, arches ...string) adv {
	var a adv
	b, _ := json.Marshal(map[string]any{"Entries": []map[string]any{{"FixedVersion": fixed, "Arches": arches}}})
	if err := json.Unmarshal(b, &a); err != nil {
		panic(err)
	}
	return a
}

// fixtureDB has advisories for the packages of the images, one or more
// per rule of Trivy's detectors (fixed, unfixed, not affected, affected
// version, package-specific severity, each severity fallback, Go ranges in
// the shape trivy-db stores them, arch entries).
func fixtureDB() scantest.DB {
	return scantest.DB{
		Advisories: map[string]map[string]map[string]adv{
			"debian 12": {
				"openssl": {
					"CVE-2024-0001": {FixedVersion: "3.0.13-1~deb12u1"},
					"CVE-2020-0001": {FixedVersion: "1.1.0"},
					"CVE-2024-0009": {Severity: vulndb.SeverityLow},
				},
				"zlib":      {"CVE-2023-45853": {}},
				"glibc":     {"CVE-2024-2961": {FixedVersion: "2.36-9+deb12u7"}},
				"curl":      {"CVE-2024-0010": {FixedVersion: "7.88.1-10+deb12u6"}},
				"docker-ce": {"CVE-2024-41110": {}},
				"tzdata":    {"CVE-2024-0011": {FixedVersion: "2024b-0+deb12u1"}},
			},
			"ubuntu 22.04": {
				"glibc": {"CVE-2024-2961": {FixedVersion: "2.35-0ubuntu3.7"}},
				"bash":  {"CVE-2022-3715": {}},
			},
			"alpine 3.19": {
				"openssl": {
					"CVE-2024-0002": {FixedVersion: "3.1.4-r5"},
					"CVE-2024-0003": {FixedVersion: "3.1.4-r5", AffectedVersion: "3.1.4-r2"},
				},
				"musl":    {"CVE-2025-26519": {}},
				"busybox": {"CVE-2023-42363": {FixedVersion: "1.36.1-r16", Severity: vulndb.SeverityHigh}},
			},
			"rocky 8": {
				"openssl-libs":      {"CVE-2020-1971": entries("1:1.1.1g-12.el8_3", "x86_64", "aarch64"), "CVE-2021-3449": entries("1:1.1.1g-15.el8_3", "aarch64")},
				"bash":              {"CVE-2019-18276": {FixedVersion: "4.4.20-1.el8_4"}},
				"nodejs":            {"CVE-2021-22930": entries("1:12.22.5-1.module+el8.4.0+595+e8d8e6a2", "x86_64")},
				"nodejs:10::nodejs": {"CVE-2021-22883": entries("1:10.24.0-1.module+el8.3.0+101+f84c7154", "x86_64")},
			},
			"Oracle Linux 8": {
				"openssl-libs": {"ELSA-2020-5566": entries("1:1.1.1g-12.el8_3", "x86_64"), "ELSA-2021-9150": entries("1:1.1.1g-15.el8_3_fips", "x86_64")},
				"bash":         {"CVE-2019-18276": {FixedVersion: "4.4.20-1.el8_4"}},
			},
			"alma 9": {
				"openssl-libs": {"CVE-2022-0778": {FixedVersion: "1:1.1.1n-1.fc35"}},
				"bash":         {"CVE-2022-3715": {FixedVersion: "0:5.1.8-3.fc35"}},
				"tzdata":       {"CVE-2021-0001": {FixedVersion: "2021a-1.fc35"}},
			},
			"amazon linux 1": {
				"bash":         {"CVE-2019-9924": {FixedVersion: "4.2.46-34.amzn1"}},
				"openssl-libs": {"CVE-2018-0737": {FixedVersion: "1:1.0.2k-16.amzn1"}},
			},
			"go::The Go Vulnerability Database": {
				"stdlib": {"CVE-2099-0100": {VulnerableVersions: []string{"<1.21.9", ">=1.22.0-0, <99.0.0"}, PatchedVersions: []string{"1.21.9", "99.0.0"}}},
				"github.com/Masterminds/semver/v3": {
					"GO-2099-0001": {VulnerableVersions: []string{">=3.0.0, <3.6.0"}, PatchedVersions: []string{"3.6.0"}},
					"GO-2099-0002": {VulnerableVersions: []string{"<3.1.0"}, PatchedVersions: []string{"3.1.0"}},
					"GO-2099-0003": {VulnerableVersions: []string{"<3.9.0"}},
				},
				"github.com/aquasecurity/trivy": {"GO-2099-0004": {VulnerableVersions: []string{">=0.70.0, <0.75.0"}, PatchedVersions: []string{"0.75.0"}}},
				"golang.org/x/net":              {"GO-2099-0005": {VulnerableVersions: []string{"<99.0.0"}, PatchedVersions: []string{"99.0.0"}}},
			},
			"go::GitHub Security Advisory Go": {
				"github.com/Masterminds/semver/v3": {"GHSA-aaaa-bbbb-cccc": {VulnerableVersions: []string{"<3.7.0"}, PatchedVersions: []string{"3.7.0"}}},
				"golang.org/x/crypto":              {"GHSA-dddd-eeee-ffff": {VulnerableVersions: []string{"<99.0.0"}, PatchedVersions: []string{"99.0.0"}}},
			},
		},
		// Red Hat: advisories by binary package with the CPE indices of the
		// content sets they apply to (trivy-db's "Red Hat" and "Red Hat
		// CPE" buckets), as the Red Hat work's tests write them.
		RedHat: map[string]map[string]string{
			"openssl-libs": {
				"RHSA-2022:5818": `{"Entries":[{"FixedVersion":"1:1.1.1k-7.el8_6","Arches":["aarch64","ppc64le","s390x","x86_64"],"Affected":[1],"Cves":[{"ID":"CVE-2022-1292","Severity":2}]}]}`,
				"RHSA-2099:0001": `{"Entries":[{"FixedVersion":"1:1.1.1k-99.el8","Affected":[3],"Cves":[{"ID":"CVE-2099-0001","Severity":4}]}]}`,
				"CVE-2099-0002":  `{"Entries":[{"Status":2,"Affected":[1],"Cves":[{"Severity":3}]}]}`,
			},
			"bash": {"CVE-2099-0003": `{"Entries":[{"Status":3,"Affected":[2],"Cves":[{}]}]}`},
		},
		RedHatRepositories: map[string][]int{"rhel-8-for-s390x-baseos-rpms": {1}, "rhel-8-for-s390x-appstream-rpms": {2}, "rhel-7-server-rpms": {0}},
		Vulnerabilities: map[string]vulndb.Vulnerability{
			"CVE-2022-1292":       {Title: "c_rehash script allows command injection", VendorSeverity: sev{"nvd": vulndb.SeverityCritical}},
			"CVE-2099-0003":       {VendorSeverity: sev{"redhat": vulndb.SeverityLow, "nvd": vulndb.SeverityHigh}},
			"CVE-2024-0001":       {VendorSeverity: sev{"debian": vulndb.SeverityHigh, "nvd": vulndb.SeverityLow}},
			"CVE-2024-0009":       {VendorSeverity: sev{"debian": vulndb.SeverityCritical}},
			"CVE-2023-45853":      {Severity: "CRITICAL"},
			"CVE-2024-2961":       {VendorSeverity: sev{"nvd": vulndb.SeverityHigh, "ubuntu": vulndb.SeverityMedium}},
			"CVE-2022-3715":       {VendorSeverity: sev{"nvd": vulndb.SeverityHigh, "alma": vulndb.SeverityLow}},
			"CVE-2024-0011":       {VendorSeverity: sev{"debian": vulndb.SeverityLow}},
			"CVE-2024-0002":       {VendorSeverity: sev{"nvd": vulndb.SeverityMedium}},
			"CVE-2023-42363":      {VendorSeverity: sev{"nvd": vulndb.SeverityMedium}},
			"CVE-2025-26519":      {VendorSeverity: sev{"alpine": vulndb.SeverityHigh}},
			"CVE-2020-1971":       {VendorSeverity: sev{"rocky": vulndb.SeverityMedium}},
			"CVE-2021-22883":      {VendorSeverity: sev{"nvd": vulndb.SeverityHigh}},
			"CVE-2021-22930":      {VendorSeverity: sev{"nvd": vulndb.SeverityCritical}},
			"CVE-2019-18276":      {VendorSeverity: sev{"nvd": vulndb.SeverityHigh}},
			"CVE-2022-0778":       {VendorSeverity: sev{"alma": vulndb.SeverityHigh}},
			"CVE-2019-9924":       {VendorSeverity: sev{"amazon": vulndb.SeverityMedium}},
			"CVE-2018-0737":       {VendorSeverity: sev{"nvd": vulndb.SeverityMedium}},
			"CVE-2099-0100":       {VendorSeverity: sev{"nvd": vulndb.SeverityHigh}},
			"ELSA-2020-5566":      {VendorSeverity: sev{"oracle-oval": vulndb.SeverityHigh}},
			"GO-2099-0001":        {VendorSeverity: sev{"nvd": vulndb.SeverityMedium}},
			"GO-2099-0004":        {Severity: "LOW"},
			"GHSA-aaaa-bbbb-cccc": {VendorSeverity: sev{"ghsa": vulndb.SeverityHigh, "nvd": vulndb.SeverityLow}},
			"GHSA-dddd-eeee-ffff": {VendorSeverity: sev{"nvd": vulndb.SeverityCritical}},
		},
		DataSources: map[string]vulndb.DataSource{
			"debian 12":                         {ID: "debian", Name: "Debian Security Tracker"},
			"ubuntu 22.04":                      {ID: "ubuntu", Name: "Ubuntu CVE Tracker"},
			"alpine 3.19":                       {ID: "alpine", Name: "Alpine Secdb"},
			"rocky 8":                           {ID: "rocky", Name: "Rocky Linux updateinfo"},
			"alma 9":                            {ID: "alma", Name: "AlmaLinux Product Errata"},
			"Red Hat":                           {ID: "redhat-oval", Name: "Red Hat OVAL v2"},
			"Oracle Linux 8":                    {ID: "oracle-oval", Name: "Oracle Linux OVAL definitions"},
			"amazon linux 1":                    {ID: "amazon", Name: "Amazon Linux Security Center"},
			"go::The Go Vulnerability Database": {ID: "govulndb", Name: "The Go Vulnerability Database"},
			"go::GitHub Security Advisory Go":   {ID: "ghsa", Name: "GitHub Security Advisory Go"},
		},
	}
}

// difference is one expected disagreement: side is "berth" or "trivy"
// (who has it), kind "package" or "finding", and match selects the keys
// it covers.
type difference struct {
	image, side, kind string
	match             func(key string) bool
	why               string
}

// expected lists the differences that are understood and accepted; every
// one must occur (a difference that is gone must be removed from here).
var expected = []difference{
	{image: "*", side: "trivy", kind: "package", match: func(k string) bool { return strings.HasPrefix(k, "gobinary ") && strings.HasSuffix(k, "@") },
		why: "a Go binary's main module built without a version (\"(devel)\", no VCS stamp, no -X version) is listed by Trivy " +
			"with an empty version; berth lists only versioned modules, as nothing can be matched without a version"},
	{image: "ubi8-minimal", side: "trivy", kind: "finding", match: func(k string) bool { return strings.HasPrefix(k, "CVE-2099-0003 ") && strings.HasSuffix(k, " UNKNOWN") },
		why: "a Red Hat advisory entry without a severity: Trivy reports UNKNOWN; berth deliberately takes Red Hat's vendor " +
			"severity of the CVE, else NVD's (internal/scan/match/redhat.go)"},
	{image: "ubi8-minimal", side: "berth", kind: "finding", match: func(k string) bool { return strings.HasPrefix(k, "CVE-2099-0003 ") && strings.HasSuffix(k, " LOW") },
		why: "the same finding with Red Hat's vendor severity"},
}

func TestCompareWithTrivy(t *testing.T) {
	ctx := context.Background()
	out, err := exec.Command(trivyBin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v: %s", trivyBin, err, out)
	}
	t.Logf("comparing with %s: %s", trivyBin, strings.SplitN(string(out), "\n", 2)[0])

	dbLayer := scantest.DBLayer(t, fixtureDB())
	cacheDir := t.TempDir()
	untarGz(t, dbLayer, filepath.Join(cacheDir, "db"))
	m := &vulndb.Manager{Dir: t.TempDir()}
	t.Cleanup(func() { m.Close() })
	db, err := m.Install("sha256:fixture", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(dbLayer)), nil })
	if err != nil {
		t.Fatal(err)
	}

	seen, ran := map[int]bool{}, map[string]bool{}
	var table []string
	for _, img := range images(t) {
		t.Run(img.name, func(t *testing.T) {
			ran[img.name] = true
			var gz [][]byte
			for _, files := range img.layers {
				gz = append(gz, scantest.Layer(t, files...))
			}
			archive := filepath.Join(t.TempDir(), img.name+".tar")
			writeDockerArchive(t, archive, img.name, gz)

			berthPkgs, berthFindings := berthScan(ctx, t, db, gz)
			trivyPkgs, trivyFindings := trivyScan(t, archive, cacheDir)

			pEq, pB, pT := diff(berthPkgs, trivyPkgs)
			fEq, fB, fT := diff(berthFindings, trivyFindings)
			table = append(table, fmt.Sprintf("%-22s packages berth %3d trivy %3d equal %3d | findings berth %2d trivy %2d equal %2d",
				img.name, len(berthPkgs), len(trivyPkgs), pEq, len(berthFindings), len(trivyFindings), fEq))
			report := func(side, kind string, keys []string) {
				for _, k := range keys {
					if i := expectedIndex(img.name, side, kind, k); i >= 0 {
						seen[i] = true
						t.Logf("expected difference, only %s has %s %q: %s", side, kind, k, expected[i].why)
						continue
					}
					t.Errorf("only %s has %s %q", side, kind, k)
				}
			}
			report("berth", "package", pB)
			report("trivy", "package", pT)
			report("berth", "finding", fB)
			report("trivy", "finding", fT)
			if len(berthPkgs) == 0 || (img.name != "trivy-binary" && len(berthFindings) == 0) {
				t.Errorf("fixture too thin: %d packages, %d findings", len(berthPkgs), len(berthFindings))
			}
		})
	}
	t.Logf("berth vs trivy, same images and database:\n%s", strings.Join(table, "\n"))
	for i, d := range expected {
		if !seen[i] && !t.Failed() && (d.image == "*" || ran[d.image]) {
			t.Errorf("expected difference no longer seen (remove it from the list): %s %s on %s: %s", d.side, d.kind, d.image, d.why)
		}
	}
}

func expectedIndex(img, side, kind, key string) int {
	for i, d := range expected {
		if (d.image == "*" || d.image == img) && d.side == side && d.kind == kind && d.match(key) {
			return i
		}
	}
	return -1
}

// diff counts the keys in both and lists those in one only.
func diff(berth, trivy map[string]bool) (equal int, onlyBerth, onlyTrivy []string) {
	for k := range berth {
		if trivy[k] {
			equal++
		} else {
			onlyBerth = append(onlyBerth, k)
		}
	}
	for k := range trivy {
		if !berth[k] {
			onlyTrivy = append(onlyTrivy, k)
		}
	}
	sort.Strings(onlyBerth)
	sort.Strings(onlyTrivy)
	return equal, onlyBerth, onlyTrivy
}

// pkgKey names a package: "deb libssl3@3.0.11-1~deb12u2"; a Go module
// also by its binary ("gobinary usr/bin/app stdlib@v1.26.8").
func pkgKey(typ, file, name, version string) string {
	if typ == catalog.TypeGoBinary {
		return fmt.Sprintf("%s %s %s@%s", typ, file, name, version)
	}
	return fmt.Sprintf("%s %s@%s", typ, name, version)
}

// findingKey names a finding with everything compared.
func findingKey(typ, file, id, pkg, installed, fixed, severity string) string {
	return fmt.Sprintf("%s %s fixed=%q %s", id, pkgKey(typ, file, pkg, installed), fixed, severity)
}

var severityNames = map[vulndb.Severity]string{vulndb.SeverityUnknown: "UNKNOWN", vulndb.SeverityLow: "LOW",
	vulndb.SeverityMedium: "MEDIUM", vulndb.SeverityHigh: "HIGH", vulndb.SeverityCritical: "CRITICAL"}

func berthScan(ctx context.Context, t *testing.T, db *vulndb.DB, gz [][]byte) (pkgs, findings map[string]bool) {
	var layers []catalog.Layer
	for _, b := range gz {
		layers = append(layers, catalog.Layer{Digest: digest.FromBytes(b).String(),
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
	}
	res, err := catalog.Catalogue(ctx, layers)
	if err != nil {
		t.Fatalf("berth catalogue: %v", err)
	}
	fs, err := match.Match(db, res)
	if err != nil {
		t.Fatalf("berth match: %v", err)
	}
	pkgs, findings = map[string]bool{}, map[string]bool{}
	for _, p := range res.Packages {
		pkgs[pkgKey(p.Type, p.Path, p.Name, p.Version)] = true
	}
	for _, f := range fs {
		findings[findingKey(f.Type, f.Path, f.ID, f.Package, f.Version, f.FixVersion, severityNames[f.Severity])] = true
	}
	return pkgs, findings
}

// trivyReport is the part of `trivy image --format json` compared.
type trivyReport struct {
	Results []struct {
		Target   string
		Class    string
		Type     string
		Packages []struct {
			Name    string
			Version string
			Release string
			Epoch   int
		}
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
			FixedVersion     string
			Severity         string
		}
	}
}

// trivyTypes maps Trivy's result types to berth's package types; the OS
// families berth matches and Go binaries (other language ecosystems are
// not catalogued by berth and none is in these images).
var trivyTypes = map[string]string{
	"debian": catalog.TypeDeb, "ubuntu": catalog.TypeDeb, "alpine": catalog.TypeAPK,
	"rocky": catalog.TypeRPM, "alma": catalog.TypeRPM, "oracle": catalog.TypeRPM, "amazon": catalog.TypeRPM,
	"redhat":   catalog.TypeRPM,
	"gobinary": catalog.TypeGoBinary,
}

func trivyScan(t *testing.T, archive, cacheDir string) (pkgs, findings map[string]bool) {
	out := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(trivyBin, "image", "--input", archive, "--cache-dir", cacheDir,
		"--skip-db-update", "--skip-java-db-update", "--offline-scan", "--skip-version-check", "--disable-telemetry",
		"--scanners", "vuln", "--list-all-pkgs", "--format", "json", "--output", out, "--quiet")
	cmd.Env = append(os.Environ(), "TRIVY_NO_PROGRESS=true")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("trivy: %v: %s", err, b)
	}
	t.Logf("trivy took %s", time.Since(start).Round(time.Millisecond))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep trivyReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("trivy report: %v", err)
	}
	pkgs, findings = map[string]bool{}, map[string]bool{}
	for _, r := range rep.Results {
		typ, ok := trivyTypes[r.Type]
		if !ok {
			t.Errorf("trivy result of type %q (%s, %d packages) that berth does not catalogue", r.Type, r.Target, len(r.Packages))
			continue
		}
		file := ""
		if r.Class == "lang-pkgs" {
			file = r.Target
		}
		for _, p := range r.Packages {
			pkgs[pkgKey(typ, file, p.Name, formatVersion(p.Epoch, p.Version, p.Release))] = true
		}
		for _, v := range r.Vulnerabilities {
			findings[findingKey(typ, file, v.VulnerabilityID, v.PkgName, v.InstalledVersion, v.FixedVersion, v.Severity)] = true
		}
	}
	return pkgs, findings
}

// formatVersion is Trivy's utils.FormatVersion: [epoch:]version[-release].
func formatVersion(epoch int, version, release string) string {
	v := version
	if release != "" {
		v += "-" + release
	}
	if epoch != 0 {
		v = fmt.Sprintf("%d:%s", epoch, v)
	}
	return v
}

// writeDockerArchive writes the image of layers as a docker-archive
// tarball (what `docker save` writes).
func writeDockerArchive(t *testing.T, path, repo string, gz [][]byte) {
	var ls []v1.Layer
	for _, b := range gz {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag("berth.test/trivycompare/" + repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		t.Fatal(err)
	}
}

// untarGz extracts the database layer (trivy.db, metadata.json) into dir.
func untarGz(t *testing.T, b []byte, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(h.Name)), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
