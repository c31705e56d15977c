package sbom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/opencontainers/go-digest"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/scan/scantest"
)

const dpkgStatus = `Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Source: zlib
Version: 1:1.2.13.dfsg-1
`

var tool = sbom.Tool{Name: "berth", Version: "1.0"}

// catalogue runs the real cataloguer over layers (tar.gz).
func catalogue(t *testing.T, ls ...[]byte) catalog.Result {
	t.Helper()
	var in []catalog.Layer
	for _, b := range ls {
		in = append(in, catalog.Layer{Digest: string(digest.FromBytes(b)),
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
	}
	res, err := catalog.Catalogue(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// debianImage: dpkg packages with a source package, and a Go binary; the
// same dpkg database again in an upper layer repeats no package.
func debianImage(t *testing.T) catalog.Result {
	return catalogue(t, scantest.Layer(t,
		scantest.File{Path: "etc/os-release", Body: []byte("ID=debian\nVERSION_ID=\"12\"\n")},
		scantest.File{Path: "var/lib/dpkg/status", Body: []byte(dpkgStatus)},
		scantest.File{Path: "usr/bin/app", Body: scantest.GoBinary(t), Mode: 0o755},
	))
}

// uniquePURLs are the catalogue's package URLs, once each.
func uniquePURLs(res catalog.Result) []string {
	var out []string
	for _, p := range res.Packages {
		out = append(out, sbom.PURL(res.OS, p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var img = sbom.Image{Repo: "library/app", Digest: digest.FromString("manifest")}

// readSPDX parses doc with tools-golang's JSON reader and validates it.
func readSPDX(t *testing.T, doc []byte) *spdx.Document {
	t.Helper()
	d, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("the SPDX reader refuses the document: %v\n%s", err, doc)
	}
	if err := spdxlib.ValidateDocument(d); err != nil {
		t.Fatalf("invalid SPDX document: %v\n%s", err, doc)
	}
	return d
}

// spdxPURLs maps each package's purl to the package.
func spdxPURLs(t *testing.T, d *spdx.Document) map[string]*spdx.Package {
	t.Helper()
	out := map[string]*spdx.Package{}
	for _, p := range d.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.Category == spdx.CategoryPackageManager && r.RefType == spdx.PackageManagerPURL {
				out[r.Locator] = p
			}
		}
	}
	return out
}

// relationships lists d's as "A TYPE B" with the element ids.
func relationships(d *spdx.Document) []string {
	var out []string
	for _, r := range d.Relationships {
		out = append(out, string(r.RefA.ElementRefID)+" "+r.Relationship+" "+string(r.RefB.ElementRefID))
	}
	return out
}

// TestSPDX: the document of a catalogued Debian image with a Go binary
// reads back as valid SPDX 2.3: the image described, the OS in it, one
// package per catalogued package with the purl the CycloneDX writer
// uses, contained by the OS (dpkg) or the image (Go modules), and a
// namespace of the image's own that no second document shares.
func TestSPDX(t *testing.T) {
	res := debianImage(t)
	want := uniquePURLs(res)
	if len(want) < 4 || len(want) != len(res.Packages) {
		t.Fatalf("the fixture catalogues %d packages (%d purls): %+v", len(res.Packages), len(want), res.Packages)
	}
	// A second copy of the catalogue (the same packages read from two
	// children of an index) adds no package.
	pkgs := append(slices.Clone(res.Packages), res.Packages...)
	raw, err := sbom.Write(sbom.SPDX, tool, img, res.OS, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	d := readSPDX(t, raw)

	if d.SPDXVersion != "SPDX-2.3" || d.DataLicense != "CC0-1.0" || d.SPDXIdentifier != "DOCUMENT" || d.DocumentName != "library/app@"+string(img.Digest) {
		t.Errorf("header: %s %s %s %q", d.SPDXVersion, d.DataLicense, d.SPDXIdentifier, d.DocumentName)
	}
	if !strings.HasPrefix(d.DocumentNamespace, sbom.NamespaceBase+"library/app@"+string(img.Digest)+"/") {
		t.Errorf("namespace %q does not name the image", d.DocumentNamespace)
	}
	if c := d.CreationInfo; c == nil || len(c.Creators) != 1 || c.Creators[0].CreatorType != "Tool" || c.Creators[0].Creator != "berth-1.0" || c.Created == "" {
		t.Errorf("creation info: %+v", c)
	}
	// Packages: the catalogue's, the OS and the image.
	if len(d.Packages) != len(want)+2 {
		t.Errorf("%d packages, want %d catalogued + the OS + the image", len(d.Packages), len(want))
	}
	byPURL := spdxPURLs(t, d)
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range byPURL {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Errorf("purls:\n got %q\nwant %q", got, want)
	}
	ssl := byPURL["pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"]
	if ssl == nil || ssl.PackageName != "libssl3" || ssl.PackageVersion != "3.0.11-1~deb12u2" ||
		ssl.PackageSourceInfo != "built package from: openssl 3.0.11-1~deb12u2" || !strings.Contains(ssl.PackageComment, "var/lib/dpkg/status") {
		t.Errorf("libssl3: %+v", ssl)
	}
	var semver *spdx.Package
	for u, p := range byPURL {
		if strings.HasPrefix(u, "pkg:golang/github.com/Masterminds/semver/v3@v3.") {
			semver = p
		}
	}
	if semver == nil {
		t.Fatalf("no Go module in %q", want)
	}

	described, err := spdxlib.GetDescribedPackageIDs(d)
	if err != nil || len(described) != 1 {
		t.Fatalf("described: %v %v", described, err)
	}
	var image, osPkg *spdx.Package
	for _, p := range d.Packages {
		switch p.PrimaryPackagePurpose {
		case "CONTAINER":
			image = p
		case "OPERATING-SYSTEM":
			osPkg = p
		}
	}
	if image == nil || image.PackageSPDXIdentifier != described[0] || image.PackageName != "library/app" ||
		len(image.PackageChecksums) != 1 || image.PackageChecksums[0].Value != img.Digest.Encoded() {
		t.Fatalf("image package %+v, described %v", image, described)
	}
	if osPkg == nil || osPkg.PackageName != "debian" || osPkg.PackageVersion != "12" {
		t.Fatalf("OS package %+v", osPkg)
	}
	rels := relationships(d)
	for _, r := range []string{
		"DOCUMENT DESCRIBES " + string(image.PackageSPDXIdentifier),
		string(image.PackageSPDXIdentifier) + " CONTAINS " + string(osPkg.PackageSPDXIdentifier),
		string(osPkg.PackageSPDXIdentifier) + " CONTAINS " + string(ssl.PackageSPDXIdentifier),
		string(image.PackageSPDXIdentifier) + " CONTAINS " + string(semver.PackageSPDXIdentifier),
	} {
		if !slices.Contains(rels, r) {
			t.Errorf("no relationship %q in %q", r, rels)
		}
	}
	if len(rels) != len(d.Packages) {
		t.Errorf("%d relationships for %d packages: each package but the image is contained once, the image described", len(rels), len(d.Packages))
	}

	again, err := sbom.WriteSPDX(tool, img, res.OS, res.Packages)
	if err != nil {
		t.Fatal(err)
	}
	if ns := readSPDX(t, again).DocumentNamespace; ns == d.DocumentNamespace {
		t.Errorf("two documents share the namespace %s", ns)
	}
}

// TestSPDXWithoutOS: a distroless image of a Go binary only: no OS
// package, the modules contained by the image, still valid.
func TestSPDXWithoutOS(t *testing.T) {
	res := catalogue(t, scantest.Layer(t, scantest.File{Path: "app", Body: scantest.GoBinary(t), Mode: 0o755}))
	if res.OS.ID != "" || len(res.Packages) == 0 {
		t.Fatalf("fixture: %+v", res)
	}
	raw, err := sbom.WriteSPDX(tool, img, res.OS, res.Packages)
	if err != nil {
		t.Fatal(err)
	}
	d := readSPDX(t, raw)
	if len(d.Packages) != len(uniquePURLs(res))+1 {
		t.Errorf("%d packages for %d catalogued + the image", len(d.Packages), len(uniquePURLs(res)))
	}
	for _, r := range relationships(d)[1:] {
		if !strings.HasPrefix(r, "Image CONTAINS ") {
			t.Errorf("relationship %q: want the image to contain each package", r)
		}
	}
}

// TestCycloneDXSamePackages: the CycloneDX document of the same image
// decodes and lists the same purls as the SPDX one, with the image as
// its metadata component.
func TestCycloneDXSamePackages(t *testing.T) {
	res := debianImage(t)
	raw, err := sbom.Write("", tool, img, res.OS, res.Packages)
	if err != nil {
		t.Fatal(err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(raw), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata == nil || bom.Metadata.Component.Version != string(img.Digest) ||
		bom.Components == nil || len(*bom.Components) != len(res.Packages)+1 {
		t.Fatalf("BOM: %s", raw)
	}
	var purls []string
	for _, c := range *bom.Components {
		if c.Type == cdx.ComponentTypeOS {
			continue
		}
		purls = append(purls, c.PackageURL)
	}
	slices.Sort(purls)
	if want := uniquePURLs(res); !slices.Equal(purls, want) {
		t.Errorf("CycloneDX purls %q, want %q", purls, want)
	}
	if !json.Valid(raw) {
		t.Error("not JSON")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]sbom.Format{"": sbom.CycloneDX, "cyclonedx": sbom.CycloneDX, "SPDX": sbom.SPDX, "spdx": sbom.SPDX} {
		if got, err := sbom.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"spdx-json", "xml", " spdx"} {
		if _, err := sbom.ParseFormat(in); err == nil || !strings.Contains(err.Error(), "cyclonedx or spdx") {
			t.Errorf("ParseFormat(%q) = %v", in, err)
		}
	}
	if sbom.SPDX.MediaType() != "application/spdx+json" || sbom.CycloneDX.MediaType() != "application/vnd.cyclonedx+json" ||
		sbom.FormatOfMediaType("application/spdx+json") != sbom.SPDX || sbom.FormatOfMediaType("text/plain") != "" {
		t.Error("media types")
	}
}
