package catalog_test

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/scantest"
)

const dpkgStatus = `Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit
 continuation line: Version: 9

Package: zlib1g
Status: install ok installed
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: docker-ce
Status: install ok installed
Maintainer: Docker <support@docker.com>
Version: 5:27.0.3-1~debian.12~bookworm
`

func layers(t *testing.T, ls ...[]byte) []catalog.Layer {
	var out []catalog.Layer
	for i, b := range ls {
		out = append(out, catalog.Layer{Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 4),
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
	}
	return out
}

func names(r catalog.Result) map[string]catalog.Package {
	m := map[string]catalog.Package{}
	for _, p := range r.Packages {
		m[p.Type+":"+p.Name] = p
	}
	return m
}

// TestDebianWithGoBinary: dpkg status (installed only, source packages),
// a distroless status.d entry, os-release, and a Go binary's modules; an
// upper layer's whiteout removes the binary and another package database.
func TestDebianWithGoBinary(t *testing.T) {
	base := scantest.Layer(t,
		scantest.File{Path: "etc/os-release", Body: []byte("ID=debian\nVERSION_ID=\"12\"\n")},
		scantest.File{Path: "var/lib/dpkg/status", Body: []byte(dpkgStatus)},
		scantest.File{Path: "var/lib/dpkg/status.d/tzdata", Body: []byte("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")},
		scantest.File{Path: "var/lib/dpkg/status.d/tzdata.md5sums", Body: []byte("x")},
		scantest.File{Path: "usr/bin/app", Body: scantest.GoBinary(t), Mode: 0o755},
		scantest.File{Path: "usr/bin/script", Body: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
	)
	res, err := catalog.Catalogue(context.Background(), layers(t, base))
	if err != nil {
		t.Fatal(err)
	}
	if res.OS != (catalog.OS{ID: "debian", VersionID: "12"}) {
		t.Fatalf("os = %+v", res.OS)
	}
	m := names(res)
	if p := m["deb:libssl3"]; p.SrcName != "openssl" || p.SrcVersion != "3.0.11-1~deb12u2" || p.Arch != "amd64" || p.Layer != "sha256:aaaa" {
		t.Fatalf("libssl3 = %+v", p)
	}
	if m["deb:libssl3"].ThirdParty || !m["deb:docker-ce"].ThirdParty {
		t.Fatalf("third party: libssl3 %v, docker-ce %v", m["deb:libssl3"].ThirdParty, m["deb:docker-ce"].ThirdParty)
	}
	if p := m["deb:zlib1g"]; p.SrcName != "zlib" || p.SrcVersion != "1:1.2.13.dfsg-1" {
		t.Fatalf("zlib1g = %+v", p)
	}
	if _, ok := m["deb:gone"]; ok {
		t.Fatal("a deinstalled package is listed")
	}
	if p := m["deb:tzdata"]; p.Version != "2024a-0+deb12u1" || p.Path != "var/lib/dpkg/status.d/tzdata" {
		t.Fatalf("tzdata = %+v", p)
	}
	if p := m["gobinary:github.com/Masterminds/semver/v3"]; p.Version != "v3.5.0" || p.Path != "usr/bin/app" {
		t.Fatalf("go module of the binary missing: %+v", res.Packages)
	}
	if p := m["gobinary:stdlib"]; !strings.HasPrefix(p.Version, "v1.") {
		t.Fatalf("stdlib = %+v", p)
	}

	upper := scantest.Layer(t, scantest.File{Path: "usr/bin/.wh.app"}, scantest.File{Path: "var/lib/dpkg/status.d/.wh.tzdata"})
	res, err = catalog.Catalogue(context.Background(), layers(t, base, upper))
	if err != nil {
		t.Fatal(err)
	}
	m = names(res)
	if _, ok := m["gobinary:stdlib"]; ok {
		t.Fatal("a whited-out binary is listed")
	}
	if _, ok := m["deb:tzdata"]; ok {
		t.Fatal("a whited-out status.d entry is listed")
	}
	if _, ok := m["deb:libssl3"]; !ok {
		t.Fatal("libssl3 lost")
	}
	// An opaque directory hides everything below it from lower layers.
	opq := scantest.Layer(t, scantest.File{Path: "var/lib/dpkg/.wh..wh..opq"})
	res, _ = catalog.Catalogue(context.Background(), layers(t, base, opq))
	if m := names(res); len(m) != 0 && m["deb:libssl3"].Name != "" {
		t.Fatalf("opaque dir: %+v", res.Packages)
	}
}

// TestAlpine: apk records with origin; a package database rewritten by an
// upper layer replaces the lower one.
func TestAlpine(t *testing.T) {
	l1 := scantest.Layer(t,
		scantest.File{Path: "etc/os-release", Body: []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n")},
		scantest.File{Path: "lib/apk/db/installed", Body: []byte("C:Q1x\nP:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\n\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n")},
	)
	l2 := scantest.Layer(t, scantest.File{Path: "./lib/apk/db/installed", Body: []byte("P:musl\nV:1.2.4-r2\no:musl\n")})
	res, err := catalog.Catalogue(context.Background(), layers(t, l1))
	if err != nil {
		t.Fatal(err)
	}
	if res.OS.ID != "alpine" || res.OS.VersionID != "3.19.1" {
		t.Fatalf("os = %+v", res.OS)
	}
	if p := names(res)["apk:libcrypto3"]; p.SrcName != "openssl" || p.Version != "3.1.4-r1" || p.Arch != "x86_64" {
		t.Fatalf("libcrypto3 = %+v", p)
	}
	res, _ = catalog.Catalogue(context.Background(), layers(t, l1, l2))
	if m := names(res); len(m) != 1 || m["apk:musl"].Layer != "sha256:bbbb" {
		t.Fatalf("rewritten db: %+v", res.Packages)
	}
}

// TestLimits: a package database over the cap is refused with ErrLimit;
// a layer that is not an archive is an error; an rpm database is noted.
func TestLimits(t *testing.T) {
	big := scantest.Layer(t, scantest.File{Path: "var/lib/dpkg/status", Body: bytes.Repeat([]byte("a"), catalog.MaxDBFile+1)})
	if _, err := catalog.Catalogue(context.Background(), layers(t, big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("err = %v", err)
	}
	if _, err := catalog.Catalogue(context.Background(), layers(t, []byte{0x1f, 0x8b, 1, 2, 3})); err == nil {
		t.Fatal("a broken gzip layer was read")
	}
}

// TestRPM: the three rpm database formats, through go-rpmdb, with the
// source package of each; a whiteout removes the database.
func TestRPM(t *testing.T) {
	for _, c := range []struct{ fixture, path, pkg, version, src string }{
		{"centos7-plain/Packages", "var/lib/rpm/Packages", "openssl-libs", "1:1.0.2k-12.el7", "openssl"},
		{"sle15-bci/Packages.db", "usr/lib/sysimage/rpm/Packages.db", "libpcre1", "8.45-20.10.1", "pcre"},
		{"fedora35/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", "openssl-libs", "1:1.1.1l-2.fc35", "openssl"},
	} {
		l := scantest.Layer(t, scantest.File{Path: c.path, Body: scantest.RPMDB(t, c.fixture)})
		res, err := catalog.Catalogue(context.Background(), layers(t, l))
		if err != nil {
			t.Fatalf("%s: %v", c.fixture, err)
		}
		p := names(res)["rpm:"+c.pkg]
		if p.Version != c.version || p.SrcName != c.src || p.Path != c.path || len(res.Packages) < 10 {
			t.Errorf("%s: %s = %+v (%d packages)", c.fixture, c.pkg, p, len(res.Packages))
		}
		if p.ThirdParty {
			t.Errorf("%s: %s from the distribution taken for a third party's", c.fixture, c.pkg)
		}
		if _, ok := names(res)["rpm:gpg-pubkey"]; !ok && c.fixture == "fedora35/rpmdb.sqlite" {
			t.Errorf("%s: gpg-pubkey not listed (Trivy lists it)", c.fixture)
		}
		dir, base := c.path[:strings.LastIndexByte(c.path, '/')], c.path[strings.LastIndexByte(c.path, '/')+1:]
		wh := scantest.Layer(t, scantest.File{Path: dir + "/.wh." + base})
		if res, _ := catalog.Catalogue(context.Background(), layers(t, l, wh)); len(res.Packages) != 0 {
			t.Errorf("%s: whited-out database still read", c.fixture)
		}
	}
}

// ubiManifest is a content manifest as Red Hat's build system writes it
// into root/buildinfo/content_manifests.
const ubiManifest = `{
  "metadata": {"icm_version": 1, "image_layer_index": 0},
  "content_sets": ["rhel-8-for-s390x-baseos-rpms__8", "rhel-8-for-s390x-appstream-rpms"],
  "image_contents": []
}`

// ubiDockerfile is the shape of root/buildinfo/Dockerfile-<nvr> of older
// Red Hat images: the component and architecture are labels, the
// architecture through an ENV variable.
const ubiDockerfile = `FROM sha256:4224eead35ea350b4b9d4ac67550e92efb9a50d3855cb3381469fe4c7e3f2053
# the component
LABEL com.redhat.component="ubi8-container" \
      name="ubi8" \
      version="8.3"
ENV container oci
ENV arch s390x
LABEL "release"="227" "vendor"="Red Hat, Inc." "architecture"=$arch "summary"='a "quoted" $summary'
`

// TestRedHatBuildInfo: a UBI image (go-rpmdb's real ubi8-s390x rpm
// database, os-release, a content manifest) gives its rpm packages the
// content sets of the layer that installed them, as Trivy: the base
// layer without a manifest takes the next layer's; a package database
// rewritten by an upper layer keeps the lower layer for the packages it
// already listed; a layer's buildinfo Dockerfile gives the build NVR.
func TestRedHatBuildInfo(t *testing.T) {
	osRelease := scantest.File{Path: "etc/os-release", Body: []byte("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"8.5\"\n")}
	rpmdb := scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "ubi8-s390x/Packages")}
	manifest := scantest.File{Path: "root/buildinfo/content_manifests/ubi8-minimal-container-8.5-218.json", Body: []byte(ubiManifest)}
	wantSets := []string{"rhel-8-for-s390x-baseos-rpms__8", "rhel-8-for-s390x-appstream-rpms"}

	res, err := catalog.Catalogue(context.Background(), layers(t, scantest.Layer(t, osRelease, rpmdb, manifest)))
	if err != nil {
		t.Fatal(err)
	}
	if res.OS != (catalog.OS{ID: "rhel", VersionID: "8.5"}) {
		t.Fatalf("os = %+v", res.OS)
	}
	p := names(res)["rpm:openssl-libs"]
	if bi := res.BuildInfoOf(p); p.Version != "1:1.1.1k-6.el8_5" || p.Arch != "s390x" || bi == nil || !reflect.DeepEqual(bi.ContentSets, wantSets) {
		t.Fatalf("openssl-libs = %+v %+v", p, bi)
	}
	for _, p := range res.Packages {
		if p.BuildInfoRef != 1 {
			t.Fatalf("%s has build information %d", p.Name, p.BuildInfoRef)
		}
	}
	if len(res.BuildInfos) != 1 {
		t.Fatalf("build infos = %+v", res.BuildInfos)
	}

	// The base layer holds the packages, the second the manifest; a
	// third rewrites the database (same packages) and has its own build
	// Dockerfile; a fourth adds nothing Red Hat.
	base := scantest.Layer(t, osRelease, rpmdb)
	second := scantest.Layer(t, manifest)
	third := scantest.Layer(t, rpmdb, scantest.File{Path: "root/buildinfo/Dockerfile-ubi8-8.3-227", Body: []byte(ubiDockerfile)})
	res, err = catalog.Catalogue(context.Background(), layers(t, base, second, third, scantest.Layer(t, scantest.File{Path: "app/x", Body: []byte("x")})))
	if err != nil {
		t.Fatal(err)
	}
	p = names(res)["rpm:openssl-libs"]
	if bi := res.BuildInfoOf(p); p.Layer != "sha256:aaaa" || bi == nil || !reflect.DeepEqual(bi.ContentSets, wantSets) || bi.NVR != "" {
		t.Fatalf("openssl-libs of the base layer = %+v %+v", p, bi)
	}
	if len(res.Packages) != 183 { // 181 and two gpg-pubkey entries
		t.Fatalf("%d packages", len(res.Packages))
	}

	// The Dockerfile layer's own packages get its NVR and architecture.
	res, err = catalog.Catalogue(context.Background(), layers(t, base, second, scantest.Layer(t,
		scantest.File{Path: "usr/lib/sysimage/rpm/rpmdb.sqlite", Body: scantest.RPMDB(t, "fedora35/rpmdb.sqlite")},
		scantest.File{Path: "root/buildinfo/Dockerfile-ubi8-8.3-227", Body: []byte(ubiDockerfile)})))
	if err != nil {
		t.Fatal(err)
	}
	var fedora catalog.Package
	for _, p := range res.Packages {
		if p.Name == "openssl-libs" && p.Path == "usr/lib/sysimage/rpm/rpmdb.sqlite" {
			fedora = p
		}
	}
	if bi := res.BuildInfoOf(fedora); fedora.Layer != "sha256:cccc" || !reflect.DeepEqual(bi, &catalog.BuildInfo{NVR: "ubi8-container-8.3-227", Arch: "s390x"}) {
		t.Fatalf("package of the Dockerfile layer = %+v %+v", fedora, bi)
	}

	// A broken manifest is skipped with a note; an image without build
	// information (CentOS) has none.
	broken := scantest.File{Path: "root/buildinfo/content_manifests/x.json", Body: []byte("{")}
	res, err = catalog.Catalogue(context.Background(), layers(t, scantest.Layer(t, osRelease, rpmdb, broken)))
	if err != nil {
		t.Fatal(err)
	}
	if p := names(res)["rpm:bash"]; res.BuildInfoOf(p) != nil || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "x.json") {
		t.Fatalf("broken manifest: %+v, notes %q", p.BuildInfoRef, res.Notes)
	}
}

// TestModularityLabel: the module stream of modular rpm packages is
// kept (go-rpmdb's centos8-modularitylabel database).
func TestModularityLabel(t *testing.T) {
	l := scantest.Layer(t, scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "centos8-modularitylabel/Packages")})
	res, err := catalog.Catalogue(context.Background(), layers(t, l))
	if err != nil {
		t.Fatal(err)
	}
	m := names(res)
	if p := m["rpm:npm"]; p.Modularitylabel != "nodejs:10:8020020200707141642:6a468ee4" || p.Version != "1:6.14.4-1.10.21.0.3.module_el8.2.0+391+8da3adc6" {
		t.Fatalf("npm = %+v", p)
	}
	if p := m["rpm:bash"]; p.Modularitylabel != "" {
		t.Fatalf("bash = %+v", p)
	}
}
