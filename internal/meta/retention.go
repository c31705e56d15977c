package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// RetentionPolicy is a project's tag retention policy. The policy itself
// (Harbor's RetentionPolicy JSON) is internal/retention's business: the
// store keeps it as given.
type RetentionPolicy struct {
	ID        int64
	ProjectID int64
	// Policy is the JSON text of the policy.
	Policy    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RetentionIDKey is the project metadata key naming a project's retention
// policy (Harbor's retention_id): the store sets it with the policy and
// removes it with it.
const RetentionIDKey = "retention_id"

// RetentionArtifact is a manifest of a repository with what retention
// decides by: its tags and times, what it is attached to and references.
type RetentionArtifact struct {
	Digest    digest.Digest
	MediaType string
	// Size is the manifest's size plus that of the blobs it references.
	Size     int64
	PushedAt time.Time
	PulledAt time.Time // zero: never pulled
	Tags     []TagInfo // by name
	Labels   []string  // label names, sorted
	// AccessoryOf is the manifest of the repository this one is an
	// accessory of (see ArtifactDetails), "" if none.
	AccessoryOf digest.Digest
	// Children are the manifests an index references.
	Children []digest.Digest
}

// RetentionStore keeps tag retention policies, one per project at most,
// going with their project, and answers what a retention run reads.
type RetentionStore interface {
	// CreateRetentionPolicy adds p for project p.ProjectID, sets its ID and
	// times, and sets the project's RetentionIDKey metadata to the ID, in
	// one transaction. ErrNotFound: no such project; ErrConflict: the
	// project has a policy already.
	CreateRetentionPolicy(ctx context.Context, p *RetentionPolicy) error
	// RetentionPolicy returns policy id; ErrNotFound if there is none.
	RetentionPolicy(ctx context.Context, id int64) (*RetentionPolicy, error)
	// UpdateRetentionPolicy replaces the Policy text of policy p.ID and
	// sets p's times (its project stays); ErrNotFound if there is none.
	UpdateRetentionPolicy(ctx context.Context, p *RetentionPolicy) error
	// DeleteRetentionPolicy removes policy id and its project's
	// RetentionIDKey metadata, in one transaction; ErrNotFound if there
	// is none.
	DeleteRetentionPolicy(ctx context.Context, id int64) error

	// RetentionArtifacts lists every manifest of repo, top-level or not,
	// in no particular order (none for an unknown repository).
	RetentionArtifacts(ctx context.Context, repo string) ([]RetentionArtifact, error)
	// FreedBytes is what deleting the manifests ds of repo frees once
	// garbage collection has run: their own sizes, and those of the blobs
	// they reference that no other manifest, in any repository,
	// references (each blob counted once).
	FreedBytes(ctx context.Context, repo string, ds []digest.Digest) (int64, error)
}
