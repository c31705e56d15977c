package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// RepoInfo summarizes a repository for the management API.
type RepoInfo struct {
	Name string
	// ArtifactCount counts top-level manifests (not the untagged children
	// of an index, nor accessories: see ArtifactDetails).
	ArtifactCount int64
	CreatedAt     time.Time
	// UpdatedAt is the latest manifest push, tag change or description
	// change (CreatedAt if none).
	UpdatedAt time.Time
	// ID is Harbor's numeric repository id, never reused.
	ID int64
	// ProjectID is filled in by AllRepositories only.
	ProjectID   int64
	Description string
	PullCount   int64
}

// TagInfo is a tag and when it was last pointed at its manifest.
type TagInfo struct {
	Name     string
	Digest   digest.Digest
	PushedAt time.Time
	PulledAt time.Time // zero: never pulled by this tag
}

// ArtifactInfo describes a manifest for the management API.
type ArtifactInfo struct {
	Digest       digest.Digest
	MediaType    string // the manifest's media type
	ArtifactType string // artifactType, or an image manifest's config media type
	// Size is the manifest's size plus that of the blobs it references.
	Size     int64
	PushedAt time.Time
	Tags     []TagInfo
	PulledAt time.Time // zero: never pulled
	// RepositoryID is the repository's RepoInfo.ID.
	RepositoryID int64
}

// Catalog answers the management API's read queries over repositories and
// artifacts, and the few writes it needs beyond Store.
type Catalog interface {
	// ProjectRepositories lists the repositories of project, ordered by
	// name, with the total count. Keys: name (the full name,
	// "project/repo"), creation_time, pull_count.
	ProjectRepositories(ctx context.Context, project string, q ListQuery) ([]RepoInfo, int64, error)
	// RepositoryCount counts the repositories of project.
	RepositoryCount(ctx context.Context, project string) (int64, error)
	// Repository returns one repository; ErrRepoNotFound if absent.
	Repository(ctx context.Context, repo string) (*RepoInfo, error)
	// Artifacts lists the top-level artifacts of repo (as ArtifactCount
	// counts them), newest first, with
	// their tags, and the total count. Keys: digest, media_type,
	// artifact_type, push_time, pull_time, tags (tags=* tagged, tags=nil
	// untagged, tags=NAME, tags=~PART, tags={A B}, tags=(A B)), labels
	// (label ids: labels=ID, labels={A B} any of them, labels=(A B) all).
	Artifacts(ctx context.Context, repo string, q ListQuery) ([]ArtifactInfo, int64, error)
	// Artifact returns one artifact by digest with its tags;
	// ErrManifestNotFound if absent.
	Artifact(ctx context.Context, repo string, d digest.Digest) (*ArtifactInfo, error)
	// CreateTag points a new tag at manifest d; ErrConflict if the tag
	// exists, ErrManifestNotFound if d does not.
	CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error
	// DeleteRepository removes a repository with its manifests, tags and
	// blob links (the bytes stay for garbage collection).
	DeleteRepository(ctx context.Context, repo string) error

	ArtifactDetails
	LabelCatalog
	SystemStore
	ImmutableStore
	RetentionStore
}
