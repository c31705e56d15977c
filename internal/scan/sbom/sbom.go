// Package sbom writes an image's catalogue as an SBOM document: CycloneDX
// JSON (the default) or SPDX 2.3 JSON. Both list the same packages under
// the same package URLs, so a consumer gets one inventory in either form.
package sbom

import (
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/scan/catalog"
)

// Format is an SBOM document format.
type Format string

// The formats berth writes; the zero value means CycloneDX.
const (
	CycloneDX Format = "cyclonedx"
	SPDX      Format = "spdx"
)

// Formats lists the accepted format names, the default first.
var Formats = []Format{CycloneDX, SPDX}

// Document media types: an accessory's layer says which format it holds.
const (
	CycloneDXMediaType = "application/vnd.cyclonedx+json"
	SPDXMediaType      = "application/spdx+json"
)

// ParseFormat reads a format name; "" is the default, CycloneDX.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case "":
		return CycloneDX, nil
	case CycloneDX, SPDX:
		return f, nil
	}
	return "", fmt.Errorf("SBOM format %q: want %s or %s", s, CycloneDX, SPDX)
}

// MediaType is the media type of f's JSON documents.
func (f Format) MediaType() string {
	if f == SPDX {
		return SPDXMediaType
	}
	return CycloneDXMediaType
}

// Description is a line for the accessory's
// org.opencontainers.artifact.description annotation (Harbor writes
// "SPDX JSON SBOM" there).
func (f Format) Description() string {
	if f == SPDX {
		return "SPDX JSON SBOM"
	}
	return "CycloneDX JSON SBOM"
}

// FormatOfMediaType is the format of a document of media type mt, ""
// if berth does not write it.
func FormatOfMediaType(mt string) Format {
	switch mt {
	case CycloneDXMediaType:
		return CycloneDX
	case SPDXMediaType:
		return SPDX
	}
	return ""
}

// Image is what the document describes.
type Image struct {
	Repo   string
	Digest digest.Digest
}

// Tool names the program that wrote the document.
type Tool struct {
	Name, Version string
}

// Write encodes the catalogue of img in format f.
func Write(f Format, tool Tool, img Image, os catalog.OS, pkgs []catalog.Package) ([]byte, error) {
	if f == SPDX {
		return WriteSPDX(tool, img, os, pkgs)
	}
	return WriteCycloneDX(tool, img, os, pkgs)
}

// entry is one package of a document with its package URL.
type entry struct {
	catalog.Package
	PURL string
}

// entries are pkgs with their purls, sorted by purl, each purl once
// (the same package read from two layers is one component).
func entries(os catalog.OS, pkgs []catalog.Package) []entry {
	out := make([]entry, 0, len(pkgs))
	seen := make(map[string]bool, len(pkgs))
	for _, p := range pkgs {
		ref := PURL(os, p)
		if seen[ref] {
			continue
		}
		seen[ref] = true
		out = append(out, entry{p, ref})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PURL < out[j].PURL })
	return out
}

// PURL is a package's package URL (qualifiers arch and distro, the empty
// ones left out).
func PURL(os catalog.OS, p catalog.Package) string {
	var typ, distro string
	switch p.Type {
	case catalog.TypeDeb, catalog.TypeRPM:
		typ, distro = p.Type, os.ID+"-"+os.VersionID
	case catalog.TypeAPK:
		typ, distro = "apk", os.VersionID
	case catalog.TypeGoBinary:
		return fmt.Sprintf("pkg:golang/%s@%s", p.Name, p.Version)
	default:
		return fmt.Sprintf("pkg:generic/%s@%s", p.Name, p.Version)
	}
	var q []string
	if p.Arch != "" {
		q = append(q, "arch="+p.Arch)
	}
	if os.VersionID != "" {
		q = append(q, "distro="+distro)
	}
	u := fmt.Sprintf("pkg:%s/%s/%s@%s", typ, os.ID, p.Name, p.Version)
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	return u
}
