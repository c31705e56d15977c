package meta

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// Harbor's accessory types (src/pkg/accessory/model): what an artifact
// attached to another one is.
const (
	AccessoryCosign     = "signature.cosign"
	AccessoryNotation   = "signature.notation"
	AccessoryHarborSBOM = "sbom.harbor"
	// AccessorySubject is any other manifest attached to an artifact.
	AccessorySubject = "subject.accessory"
)

// An accessory of an artifact D (Harbor's word) is a manifest attached to
// it in the same repository, found two ways:
//
//   - its subject is D (OCI 1.1 referrers: cosign and notation signatures,
//     SBOMs and attestations pushed with a subject);
//   - it is tagged with cosign's tag for D, "sha256-HEX.sig", ".att" or
//     ".sbom" (cosign before OCI 1.1).
//
// Its type comes from its artifact type (the manifest's artifactType, else
// its config's media type), as Harbor's subject middleware decides it:
// application/vnd.cncf.notary.signature is a notation signature, cosign's
// signature and sigstore bundle types a cosign signature,
// application/vnd.goharbor.harbor.sbom.v1 Harbor's SBOM; a ".sig" tag makes
// a cosign signature, and anything else is AccessorySubject (Harbor knows no
// type for cosign's ".att" and ".sbom").
//
// A manifest is an accessory only while D is in the repository: one whose
// artifact is gone is an ordinary artifact again, so that it can be seen and
// deleted (Harbor hides an accessory from the artifact list for good, and
// deletes it with its artifact instead).

// AccessoryInfo is one accessory of an artifact.
type AccessoryInfo struct {
	Digest       digest.Digest
	Subject      digest.Digest // the artifact it is attached to
	Type         string        // one of the Accessory* types
	MediaType    string        // the manifest's media type
	ArtifactType string
	// Size is the manifest's size plus that of the blobs it references.
	Size      int64
	CreatedAt time.Time
}

// ManifestDetail is a manifest of a repository for the management API.
type ManifestDetail struct {
	Digest    digest.Digest
	MediaType string
	// Size is the manifest's size plus that of the blobs it references (as
	// ArtifactInfo.Size).
	Size int64
	Body []byte // nil unless asked for
}

// CopyResult says what CopyArtifact did.
type CopyResult struct {
	// Manifests is how many manifests were copied (the artifact, its index
	// children and accessories, recursively), including those the
	// destination already had.
	Manifests int
	// Tags are the tags of the artifact itself set in the destination.
	Tags []string
}

// MaxCopyManifests bounds the manifests one CopyArtifact copies.
const MaxCopyManifests = 1000

// ErrCopyTooLarge: the artifact has more than MaxCopyManifests manifests
// (itself, its children and accessories).
var ErrCopyTooLarge = errors.New("artifact has too many children and accessories to copy at once")

// ArtifactDetails answers the queries behind Harbor's full Artifact
// (references, accessories) and copies artifacts between repositories.
type ArtifactDetails interface {
	// ManifestDetails returns those of ds that are in repo, in no
	// particular order, with their bodies if withBody.
	ManifestDetails(ctx context.Context, repo string, ds []digest.Digest, withBody bool) ([]ManifestDetail, error)
	// Accessories lists the accessories of d in repo, newest first, with
	// the total count. Keys: type, digest, creation_time, size.
	Accessories(ctx context.Context, repo string, d digest.Digest, q ListQuery) ([]AccessoryInfo, int64, error)
	// AccessoryOf returns the artifact d is an accessory of in repo, or ""
	// if it is none's.
	AccessoryOf(ctx context.Context, repo string, d digest.Digest) (digest.Digest, error)
	// ParentIndexes lists up to limit indexes in repo that reference d.
	ParentIndexes(ctx context.Context, repo string, d digest.Digest, limit int) ([]digest.Digest, error)
	// CopyArtifact copies manifest d from one repository to another in one
	// transaction, with its index children and its accessories
	// (recursively), linking their blobs into the destination (no bytes
	// are copied) and setting there every tag they have in from (moving a
	// tag the destination already has). ErrManifestNotFound if d is not in
	// from; *MissingRefError if content they reference is not in from;
	// ErrCopyTooLarge past MaxCopyManifests manifests. On any error
	// nothing changes.
	CopyArtifact(ctx context.Context, from, to string, d digest.Digest) (CopyResult, error)
}
