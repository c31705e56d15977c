package sbom

import (
	"bytes"
	"fmt"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	"github.com/berth-registry/berth/internal/scan/catalog"
)

// WriteCycloneDX writes the packages as a CycloneDX JSON document: the
// image as the metadata component, the OS and one library component per
// package with its purl; where a package was found (layer, path) and its
// source package are berth: properties.
func WriteCycloneDX(tool Tool, img Image, os catalog.OS, pkgs []catalog.Package) ([]byte, error) {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewString()
	bom.Metadata = &cdx.Metadata{
		Timestamp: time.Now().UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: tool.Name, Version: tool.Version}}},
		Component: &cdx.Component{Type: cdx.ComponentTypeContainer, Name: img.Repo, Version: string(img.Digest), BOMRef: string(img.Digest)},
	}
	comps := make([]cdx.Component, 0, len(pkgs)+1)
	if os.ID != "" {
		comps = append(comps, cdx.Component{Type: cdx.ComponentTypeOS, Name: os.ID, Version: os.VersionID, BOMRef: "os:" + os.ID})
	}
	for _, p := range entries(os, pkgs) {
		props := []cdx.Property{{Name: "berth:layer", Value: p.Layer}, {Name: "berth:path", Value: p.Path}}
		if p.SrcName != "" && p.SrcName != p.Name {
			props = append(props, cdx.Property{Name: "berth:src_name", Value: p.SrcName}, cdx.Property{Name: "berth:src_version", Value: p.SrcVersion})
		}
		comps = append(comps, cdx.Component{Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version,
			PackageURL: p.PURL, BOMRef: p.PURL, Properties: &props})
	}
	bom.Components = &comps
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).Encode(bom); err != nil {
		return nil, fmt.Errorf("encoding the CycloneDX SBOM: %w", err)
	}
	return buf.Bytes(), nil
}
