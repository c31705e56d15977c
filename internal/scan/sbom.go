package scan

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan/sbom"
)

// SBOMArtifactType is Harbor's artifact type of an SBOM accessory,
// whatever its format: the layer's media type says which
// (sbom.CycloneDXMediaType or sbom.SPDXMediaType).
const SBOMArtifactType = "application/vnd.goharbor.harbor.sbom.v1"

// SBOMFormatKey is berth's project metadata key choosing the format of
// the project's SBOMs (sbom.Format; CycloneDX when unset), for
// auto_sbom_generation and for requests that name none.
const SBOMFormatKey = "sbom_format"

// SBOMWriter stores an SBOM document as an accessory of subject in repo
// (a referrer manifest with artifactType SBOMArtifactType) and returns
// the accessory's manifest digest. The registry implements it.
type SBOMWriter interface {
	PushReferrer(ctx context.Context, repo string, subject *meta.Manifest, artifactType, layerMediaType string, layer []byte,
		annotations map[string]string) (digest.Digest, error)
}

// projectSBOMFormat is the project's sbom_format; the default when unset
// or unreadable.
func (s *Scanner) projectSBOMFormat(ctx context.Context, projectID int64) sbom.Format {
	set, err := s.Store.ProjectSettings(ctx, projectID)
	if err != nil || set[projectID] == nil {
		return sbom.CycloneDX
	}
	return projectFormat(set[projectID].Metadata)
}

// runSBOM catalogues repo@d (reusing a stored package list) and pushes
// its document in the format asked (CycloneDX for jobs queued before
// formats existed).
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
		f, err := sbom.ParseFormat(string(p.Format))
		if err != nil {
			return err
		}
		doc, err := sbom.Write(f, sbom.Tool{Name: ScannerName, Version: ScannerVersion}, sbom.Image{Repo: p.Repo, Digest: p.Digest}, st.OS, pkgs)
		if err != nil {
			return err
		}
		d, err := s.SBOM.PushReferrer(ctx, p.Repo, subject, SBOMArtifactType, f.MediaType(), doc,
			map[string]string{"created-by": "berth", "org.opencontainers.artifact.created": time.Now().UTC().Format(time.RFC3339),
				"org.opencontainers.artifact.description": f.Description()})
		if err != nil {
			return err
		}
		run.Log("%s pushed as %s with %d packages", f.Description(), d, len(pkgs))
		rec.SBOMDigest, rec.MediaType = d, f.MediaType()
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
