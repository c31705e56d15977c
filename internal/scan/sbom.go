package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan/catalog"
)

// SBOM accessory media types: Harbor's artifact type, and the document's.
const (
	SBOMArtifactType = "application/vnd.goharbor.harbor.sbom.v1"
	SBOMMediaType    = "application/vnd.cyclonedx+json"
)

// SBOMWriter stores an SBOM document as an accessory of subject in repo
// (a referrer manifest with artifactType SBOMArtifactType) and returns
// the accessory's manifest digest. The registry implements it.
type SBOMWriter interface {
	PushReferrer(ctx context.Context, repo string, subject *meta.Manifest, artifactType, layerMediaType string, layer []byte,
		annotations map[string]string) (digest.Digest, error)
}

// runSBOM catalogues repo@d (reusing a stored package list) and pushes
// its CycloneDX document.
func (s *Scanner) runSBOM(ctx context.Context, run *jobs.Run, p params) error {
	start := time.Now()
	rec := &meta.ScanSBOM{Digest: p.Digest, ReportID: p.ReportID, Status: meta.JobRunning, StartTime: start, Repo: p.Repo}
	_ = s.Store.PutScanSBOM(ctx, rec)
	err := func() error {
		if s.SBOM == nil {
			return errors.New("SBOM generation is not available")
		}
		subject, err := s.Store.GetManifest(ctx, p.Repo, string(p.Digest), true)
		if err != nil {
			return err
		}
		st, err := s.stored(ctx, p.Digest)
		if err != nil {
			if st, err = s.catalogue(ctx, run, p.Repo, p.Digest); err != nil {
				return err
			}
			if err := s.saveCatalogue(ctx, st); err != nil {
				return err
			}
		}
		pkgs := st.Packages
		for _, c := range st.Children {
			if cst, err := s.stored(ctx, c); err == nil {
				pkgs = append(pkgs, cst.Packages...)
			}
		}
		doc, err := CycloneDX(p.Repo, p.Digest, st.OS, pkgs)
		if err != nil {
			return err
		}
		d, err := s.SBOM.PushReferrer(ctx, p.Repo, subject, SBOMArtifactType, SBOMMediaType, doc,
			map[string]string{"created-by": "berth", "org.opencontainers.artifact.created": time.Now().UTC().Format(time.RFC3339)})
		if err != nil {
			return err
		}
		run.Log("SBOM %s pushed with %d components", d, len(pkgs))
		rec.SBOMDigest = d
		return nil
	}()
	rec.Status, rec.EndTime = meta.JobSuccess, time.Now()
	if err != nil {
		run.Log("SBOM generation failed: %v", err)
		rec.Status = meta.JobError
	}
	if perr := s.Store.PutScanSBOM(ctx, rec); perr != nil && err == nil {
		err = perr
	}
	return err
}

// CycloneDX writes the packages as a CycloneDX JSON document, one
// component per package with its purl.
func CycloneDX(repo string, d digest.Digest, os catalog.OS, pkgs []catalog.Package) ([]byte, error) {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + newReportID()
	bom.Metadata = &cdx.Metadata{
		Timestamp: time.Now().UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: ScannerName, Version: ScannerVersion}}},
		Component: &cdx.Component{Type: cdx.ComponentTypeContainer, Name: repo, Version: string(d), BOMRef: string(d)},
	}
	comps := make([]cdx.Component, 0, len(pkgs)+1)
	if os.ID != "" {
		comps = append(comps, cdx.Component{Type: cdx.ComponentTypeOS, Name: os.ID, Version: os.VersionID, BOMRef: "os:" + os.ID})
	}
	seen := map[string]bool{}
	sort.Slice(pkgs, func(i, j int) bool { return purl(os, pkgs[i]) < purl(os, pkgs[j]) })
	for _, p := range pkgs {
		ref := purl(os, p)
		if seen[ref] {
			continue
		}
		seen[ref] = true
		props := []cdx.Property{{Name: "berth:layer", Value: p.Layer}, {Name: "berth:path", Value: p.Path}}
		if p.SrcName != "" && p.SrcName != p.Name {
			props = append(props, cdx.Property{Name: "berth:src_name", Value: p.SrcName}, cdx.Property{Name: "berth:src_version", Value: p.SrcVersion})
		}
		comps = append(comps, cdx.Component{Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version,
			PackageURL: ref, BOMRef: ref, Properties: &props})
	}
	bom.Components = &comps
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).Encode(bom); err != nil {
		return nil, fmt.Errorf("encoding the SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

// purl is a package's package URL (qualifiers arch and distro, the empty
// ones left out).
func purl(os catalog.OS, p catalog.Package) string {
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
