package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/sbom"
)

// TestSBOMFormatMetadata: berth's project key sbom_format takes cyclonedx
// or spdx (any case, stored lower-case) through the project and the
// metadatas endpoints; anything else is a 400 naming the key and the
// choices, and changes nothing.
func TestSBOMFormatMetadata(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", false)
	e.expect(201, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "boms",
		"metadata": map[string]string{"auto_sbom_generation": "true", "sbom_format": "SPDX"}})
	path := Prefix + "/projects/boms"
	if md := decode[project](t, e.expect(200, alice, "GET", path, nil)).Metadata; md["sbom_format"] != "spdx" || md["auto_sbom_generation"] != "true" {
		t.Fatalf("after create: %v", md)
	}
	for _, bad := range []string{"spdx-json", "", "xml"} {
		e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"sbom_format": bad}}, "sbom_format", "cyclonedx", "spdx")
	}
	e.errorNames(400, alice, "PUT", path+"/metadatas/sbom_format", map[string]string{"sbom_format": "swid"}, "sbom_format")
	e.expect(200, alice, "PUT", path+"/metadatas/sbom_format", map[string]string{"sbom_format": "cyclonedx"})
	if md := decode[map[string]string](t, e.expect(200, alice, "GET", path+"/metadatas/sbom_format", nil)); md["sbom_format"] != "cyclonedx" {
		t.Fatalf("metadatas: %v", md)
	}
}

// TestScanRequestBody: Harbor's ScanType body with berth's sbom_format:
// the format only with scan_type sbom, one of the two names; bad bodies
// are 400s.
func TestScanRequestBody(t *testing.T) {
	for _, c := range []struct {
		body    string
		typ     string
		format  sbom.Format
		problem string
	}{
		{"", scan.TypeVulnerability, "", ""},
		{`{}`, scan.TypeVulnerability, "", ""},
		{`{"scan_type":"sbom"}`, scan.TypeSBOM, "", ""},
		{`{"scan_type":"sbom","sbom_format":"spdx"}`, scan.TypeSBOM, sbom.SPDX, ""},
		{`{"scan_type":"sbom","sbom_format":"CycloneDX"}`, scan.TypeSBOM, sbom.CycloneDX, ""},
		{`{"scan_type":"sbom","sbom_format":"swid"}`, "", "", "cyclonedx or spdx"},
		{`{"scan_type":"vulnerability","sbom_format":"spdx"}`, "", "", "scan_type sbom only"},
		{`{"sbom_format":"spdx"}`, "", "", "scan_type sbom only"},
		{`{"scan_type":"sbom","sbom_format":7}`, "", "", "JSON"},
		{`{"scan_type":"license"}`, "", "", "vulnerability or sbom"},
	} {
		r := httptest.NewRequest("POST", "/scan", strings.NewReader(c.body))
		typ, f, err := scanRequestOf(r, false)
		if c.problem != "" {
			if he, ok := err.(*Error); !ok || he.Status != 400 || !strings.Contains(he.Message, c.problem) {
				t.Errorf("%s: %v, want a 400 saying %q", c.body, err, c.problem)
			}
			continue
		}
		if err != nil || typ != c.typ || f != c.format {
			t.Errorf("%s: %q %q %v", c.body, typ, f, err)
		}
	}
}
