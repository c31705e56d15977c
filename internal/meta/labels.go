package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Label scopes, Harbor's: a global label may be added to any artifact, a
// project label to the artifacts of its project.
const (
	LabelScopeGlobal  = "g"
	LabelScopeProject = "p"
)

// Label is Harbor's label.
type Label struct {
	ID          int64
	Name        string
	Description string
	Color       string
	Scope       string // LabelScopeGlobal or LabelScopeProject
	ProjectID   int64  // the project of a project label; 0 for a global one
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LabelQuery lists the global labels (ProjectID 0) or one project's.
// Keys: name, description, color, id, creation_time, update_time.
type LabelQuery struct {
	ProjectID int64
	ListQuery
}

// RepoQuery lists repositories of every project (each with its
// ProjectID). Unless All is set, only those of public projects, of the
// projects user MemberOf (an id; 0: none) is a member of, and of
// ProjectIDs. Repositories outside any project are never listed. Keys:
// name, repository_id, project_id, creation_time, pull_count.
type RepoQuery struct {
	All        bool
	MemberOf   int64
	ProjectIDs []int64
	ListQuery
}

// LabelCatalog keeps labels and the labels added to artifacts, and
// answers the repository queries that go beyond one project: listing
// across projects, and each repository's description.
type LabelCatalog interface {
	// CreateLabel stores l and sets its ID and times; ErrConflict if its
	// scope (the global labels, or its project's) has a label of that
	// name, ErrNotFound if its project does not exist.
	CreateLabel(ctx context.Context, l *Label) error
	// GetLabel returns a label; ErrNotFound if absent.
	GetLabel(ctx context.Context, id int64) (*Label, error)
	// ListLabels lists labels by id, with the total count.
	ListLabels(ctx context.Context, q LabelQuery) ([]Label, int64, error)
	// UpdateLabel changes a label's name, description and color (never
	// its scope) and sets UpdatedAt; ErrNotFound, ErrConflict.
	UpdateLabel(ctx context.Context, l *Label) error
	// DeleteLabel removes a label, and with it from every artifact;
	// ErrNotFound if absent.
	DeleteLabel(ctx context.Context, id int64) error

	// AddArtifactLabel adds a label to the manifest d of repo:
	// ErrManifestNotFound, ErrNotFound (no such label), ErrConflict
	// (added already). Which labels fit which artifacts is the caller's.
	AddArtifactLabel(ctx context.Context, repo string, d digest.Digest, labelID int64) error
	// RemoveArtifactLabel removes it; ErrNotFound if it is not there.
	RemoveArtifactLabel(ctx context.Context, repo string, d digest.Digest, labelID int64) error
	// ArtifactLabels returns the labels of each of the manifests ds of
	// repo, by id (manifests without labels are absent from the map).
	ArtifactLabels(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest][]Label, error)

	// AllRepositories lists repositories across projects, ordered by
	// name, with the total count: one query, whatever the number of
	// projects.
	AllRepositories(ctx context.Context, q RepoQuery) ([]RepoInfo, int64, error)
	// SetRepositoryDescription sets a repository's description;
	// ErrRepoNotFound if absent.
	SetRepositoryDescription(ctx context.Context, repo, description string) error
}
