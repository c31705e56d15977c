// Package meta defines the registry's metadata store: repositories, blob
// links, manifests and their references, tags and upload sessions. The SQL
// implementation is in sqlstore; every implementation must pass metatest.
package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// Sentinel errors. Handlers map them to OCI error codes.
var (
	ErrRepoNotFound     = errors.New("repository not found")
	ErrBlobNotFound     = errors.New("blob not linked in repository")
	ErrManifestNotFound = errors.New("manifest not found")
	ErrTagNotFound      = errors.New("tag not found")
	ErrUploadNotFound   = errors.New("upload not found")
	// ErrUploadConflict: another request advanced the upload first.
	ErrUploadConflict = errors.New("upload was modified concurrently")
)

// MissingRefError says a manifest references content absent from its
// repository (or present with another size).
type MissingRefError struct {
	Ref        oci.Ref
	ActualSize int64 // -1 when the content is absent
}

func (e *MissingRefError) Error() string {
	if e.ActualSize >= 0 {
		return fmt.Sprintf("referenced %s has size %d, descriptor says %d", e.Ref.Digest, e.ActualSize, e.Ref.Size)
	}
	return fmt.Sprintf("referenced %s is not in the repository", e.Ref.Digest)
}

// Upload is a persisted upload session. HashState is the serialized state of
// the running sha256 over the first Offset bytes, so any replica (or this one
// after a restart) can continue the upload.
type Upload struct {
	ID        string
	Repo      string
	Offset    int64
	HashState []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Manifest is a stored manifest. Body is nil when not asked for.
type Manifest struct {
	Repo         string
	Digest       digest.Digest
	MediaType    string
	Size         int64
	Body         []byte
	ArtifactType string
	Subject      digest.Digest // "" when none
	Annotations  map[string]string
	Refs         []oci.Ref // only on PutManifest
}

// Store is the metadata store. All methods are safe for concurrent use.
// Repository names, tags and digests are validated by the caller (oci).
type Store interface {
	Ping(ctx context.Context) error
	Close() error

	// BlobSize returns the size of blob d if it is linked into repo.
	BlobSize(ctx context.Context, repo string, d digest.Digest) (int64, error)
	// CommitBlob records blob d (already in the blob store) and links it
	// into repo, creating the repository if needed; if uploadID is not
	// empty, the upload session is deleted in the same transaction.
	CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string) error
	// MountBlob links d into repo if it is linked in from (or, with from
	// empty, in any repository) and returns its size; ErrBlobNotFound if not.
	MountBlob(ctx context.Context, repo, from string, d digest.Digest) (int64, error)
	// BlobRepositories lists up to limit repositories that link d (sources
	// for a mount without "from").
	BlobRepositories(ctx context.Context, d digest.Digest, limit int) ([]string, error)
	// UnlinkBlob removes d from repo. The bytes stay until garbage collection.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error

	CreateUpload(ctx context.Context, u Upload) error
	// GetUpload returns upload id if it belongs to repo.
	GetUpload(ctx context.Context, repo, id string) (Upload, error)
	// AdvanceUpload moves an upload from offset from to offset to with a new
	// hash state; ErrUploadConflict if its offset is no longer from.
	AdvanceUpload(ctx context.Context, id string, from, to int64, hashState []byte) error
	DeleteUpload(ctx context.Context, id string) error
	// UploadExists reports whether a session row exists (for sweeping).
	UploadExists(ctx context.Context, id string) (bool, error)
	// StaleUploads lists sessions not touched since before.
	StaleUploads(ctx context.Context, before time.Time, limit int) ([]Upload, error)

	// PutManifest stores m (idempotently) and points tags at it, in one
	// transaction that first checks every reference in m.Refs exists in the
	// repository with the right size (*MissingRefError otherwise).
	PutManifest(ctx context.Context, m *Manifest, tags []string) error
	// GetManifest resolves ref (a tag or a digest) in repo; the body is read
	// only if withBody.
	GetManifest(ctx context.Context, repo, ref string, withBody bool) (*Manifest, error)
	// DeleteManifest removes a manifest and every tag pointing at it.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	DeleteTag(ctx context.Context, repo, tag string) error
	// Tags lists up to n tags of repo after last, in lexical order;
	// ErrRepoNotFound for an unknown repository.
	Tags(ctx context.Context, repo, last string, n int) ([]string, error)
	// Repositories lists up to n repository names after last, in order.
	Repositories(ctx context.Context, last string, n int) ([]string, error)
	// Referrers lists up to n manifests in repo whose subject is d, after
	// the digest last, in digest order, optionally filtered by artifact
	// type.
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, last string, n int) ([]oci.Descriptor, error)
}
