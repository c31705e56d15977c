package harborapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/berth-registry/berth/internal/scan/scantest"
)

// adminCall sends a JSON body to /api/v2.0 as the administrator, for
// berth's additions that Harbor's client has no field for (sbom_format).
func adminCall(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), method, server(t).URL+"/api/v2.0"+path, strings.NewReader(body))
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	res, err := loopback.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// sbomAccessory waits for repo:ref's SBOM to succeed and returns its
// digest, the media type of its one layer (from the manifest on /v2),
// the manifest's description annotation, and the document (the layer's
// blob on /v2).
func sbomAccessory(t *testing.T, c harborClient, proj, repo, ref, subject string) (mediaType, description string, doc []byte) {
	t.Helper()
	var a *models.Artifact
	await(t, func() (bool, string) {
		a = must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName(repo).
			WithReference(ref).WithWithSbomOverview(ptr(true))))(t).Payload
		return a.SbomOverview != nil && a.SbomOverview.ScanStatus == "Success" && a.SbomOverview.SbomDigest != "", "sbom " + dump(a.SbomOverview)
	})
	code, body := pullStatus(t, http.MethodGet, proj+"/"+repo, a.SbomOverview.SbomDigest)
	var m struct {
		ArtifactType string            `json:"artifactType"`
		Annotations  map[string]string `json:"annotations"`
		Subject      struct{ Digest string }
		Layers       []struct{ MediaType, Digest string }
	}
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m.ArtifactType != "application/vnd.goharbor.harbor.sbom.v1" ||
		m.Subject.Digest != subject || len(m.Layers) != 1 {
		t.Fatalf("SBOM manifest %d %s", code, body)
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, server(t).URL+"/v2/"+proj+"/"+repo+"/blobs/"+m.Layers[0].Digest, nil)
	req.SetBasicAuth("admin", adminPassword)
	res, err := loopback.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if doc, err = io.ReadAll(res.Body); err != nil || res.StatusCode != 200 {
		t.Fatalf("SBOM layer: %d %v", res.StatusCode, err)
	}
	// berth's sbom_overview (beyond Harbor's client model) says the same
	// media type as the layer.
	_, raw := adminCall(t, http.MethodGet, "/projects/"+proj+"/repositories/"+repo+"/artifacts/"+ref+"?with_sbom_overview=true", "")
	var ov struct {
		SBOMOverview struct {
			SBOMMediaType string `json:"sbom_media_type"`
		} `json:"sbom_overview"`
	}
	if err := json.Unmarshal([]byte(raw), &ov); err != nil || ov.SBOMOverview.SBOMMediaType != m.Layers[0].MediaType {
		t.Errorf("sbom_overview.sbom_media_type %q, layer %q: %s", ov.SBOMOverview.SBOMMediaType, m.Layers[0].MediaType, raw)
	}
	return m.Layers[0].MediaType, m.Annotations["org.opencontainers.artifact.description"], doc
}

// wantSPDX parses doc with tools-golang's SPDX JSON reader, validates it,
// and checks the scan image's packages: the image described, Debian 12,
// libssl3, zlib1g and the Go binary's modules, each with its purl.
func wantSPDX(t *testing.T, doc []byte, subject string) {
	t.Helper()
	d, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("SPDX reader: %v\n%.2000s", err, doc)
	}
	if err := spdxlib.ValidateDocument(d); err != nil {
		t.Fatalf("invalid SPDX: %v", err)
	}
	described, err := spdxlib.GetDescribedPackageIDs(d)
	if err != nil || len(described) != 1 || d.SPDXVersion != "SPDX-2.3" || !strings.Contains(d.DocumentNamespace, subject) {
		t.Fatalf("SPDX document: described %v %v, version %s, namespace %s", described, err, d.SPDXVersion, d.DocumentNamespace)
	}
	purls := map[string]bool{}
	var os string
	for _, p := range d.Packages {
		if p.PrimaryPackagePurpose == "OPERATING-SYSTEM" {
			os = p.PackageName + " " + p.PackageVersion
		}
		for _, r := range p.PackageExternalReferences {
			if r.RefType == spdx.PackageManagerPURL {
				purls[r.Locator] = true
			}
		}
	}
	if os != "debian 12" {
		t.Errorf("OS package %q", os)
	}
	for _, want := range []string{"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12"} {
		if !purls[want] {
			t.Errorf("no package %s in %v", want, purls)
		}
	}
	gomods := 0
	for p := range purls {
		if strings.HasPrefix(p, "pkg:golang/") {
			gomods++
		}
	}
	// Packages: the image, the OS, and one per purl.
	if gomods == 0 || len(d.Packages) != len(purls)+2 {
		t.Errorf("%d packages, %d purls (%d Go modules)", len(d.Packages), len(purls), gomods)
	}
}

// ownScanImage is pushScanImage with a file of its own: TestScan's
// lineage counts the repositories of its images, so these are images no
// other test pushes.
func ownScanImage(t *testing.T, repo string, whiteout bool) string {
	return pushScanImage(t, repo, "v1", whiteout, scantest.File{Path: "etc/sbom-test", Body: []byte(repo)})
}

// TestSBOMFormats: an SBOM in SPDX 2.3 JSON on request (berth's
// sbom_format in the scan body), or for a project whose sbom_format is
// spdx (Harbor's client asks with scan_type sbom alone; an image pushed
// with auto_sbom_generation); CycloneDX by default; each downloadable as
// the accessory's layer, with the format's media type.
func TestSBOMFormats(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	digest := ownScanImage(t, proj+"/app", false)
	scanPath := "/projects/" + proj + "/repositories/app/artifacts/v1/scan"

	for _, bad := range []string{`{"scan_type":"sbom","sbom_format":"swid"}`, `{"scan_type":"vulnerability","sbom_format":"spdx"}`} {
		if code, body := adminCall(t, http.MethodPost, scanPath, bad); code != 400 || !strings.Contains(body, "sbom_format") {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	if code, body := adminCall(t, http.MethodPost, scanPath, `{"scan_type":"sbom","sbom_format":"spdx"}`); code != 202 {
		t.Fatalf("SPDX request: %d %s", code, body)
	}
	mt, desc, doc := sbomAccessory(t, c, proj, "app", "v1", digest)
	if mt != "application/spdx+json" || desc != "SPDX JSON SBOM" {
		t.Errorf("SPDX accessory: layer %s, description %q", mt, desc)
	}
	wantSPDX(t, doc, digest)

	// Harbor's client names no format: the default, CycloneDX.
	cdxDigest := ownScanImage(t, proj+"/cdx", true)
	must(c.Scan.ScanArtifact(ctx(t), scan.NewScanArtifactParams().WithProjectName(proj).WithRepositoryName("cdx").
		WithReference("v1").WithScanType(&models.ScanType{ScanType: "sbom"})))(t)
	if mt, desc, doc := sbomAccessory(t, c, proj, "cdx", "v1", cdxDigest); mt != "application/vnd.cyclonedx+json" || desc != "CycloneDX JSON SBOM" ||
		!bytes.Contains(doc, []byte(`"bomFormat":"CycloneDX"`)) {
		t.Errorf("default accessory: layer %s, description %q, %.300s", mt, desc, doc)
	}

	// The project's sbom_format: bad values refused, spdx used by a plain
	// request through Harbor's client and by auto_sbom_generation.
	if code, body := adminCall(t, http.MethodPut, "/projects/"+proj, `{"metadata":{"sbom_format":"spdx2"}}`); code != 400 || !strings.Contains(body, "sbom_format") {
		t.Errorf("bad sbom_format: %d %s", code, body)
	}
	if code, body := adminCall(t, http.MethodPut, "/projects/"+proj, `{"metadata":{"sbom_format":"spdx"}}`); code != 200 {
		t.Fatalf("sbom_format: %d %s", code, body)
	}
	plain := ownScanImage(t, proj+"/plain", false)
	must(c.Scan.ScanArtifact(ctx(t), scan.NewScanArtifactParams().WithProjectName(proj).WithRepositoryName("plain").
		WithReference("v1").WithScanType(&models.ScanType{ScanType: "sbom"})))(t)
	if mt, _, doc := sbomAccessory(t, c, proj, "plain", "v1", plain); mt != "application/spdx+json" {
		t.Errorf("project format: layer %s", mt)
	} else {
		wantSPDX(t, doc, plain)
	}
	setProjectMeta(t, c, proj, &models.ProjectMetadata{AutoSbomGeneration: ptr("true")}, nil)
	auto := ownScanImage(t, proj+"/auto", false)
	if mt, _, doc := sbomAccessory(t, c, proj, "auto", "v1", auto); mt != "application/spdx+json" {
		t.Errorf("auto_sbom_generation: layer %s", mt)
	} else {
		wantSPDX(t, doc, auto)
	}

	// The same image pushed to a second repository gets an SBOM there;
	// the first repository's stays its own (an SBOM is an accessory of
	// one repository).
	if again := pushScanImage(t, proj+"/app2", "v1", false, scantest.File{Path: "etc/sbom-test", Body: []byte(proj + "/app")}); again != digest {
		t.Fatalf("the same image has digest %s, want %s", again, digest)
	}
	if mt, _, doc := sbomAccessory(t, c, proj, "app2", "v1", digest); mt != "application/spdx+json" {
		t.Errorf("second repository: layer %s", mt)
	} else {
		wantSPDX(t, doc, digest)
	}
	if mt, _, _ := sbomAccessory(t, c, proj, "app", "v1", digest); mt != "application/spdx+json" {
		t.Errorf("first repository after the second: layer %s", mt)
	}
}
