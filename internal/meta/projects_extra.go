package meta

import (
	"context"
	"time"
)

// UnlimitedStorage is a project's storage limit when it has none.
const UnlimitedStorage = -1

// CVEAllowlist is a project's list of CVE ids that do not count against
// its artifacts (Harbor's CVEAllowlist).
type CVEAllowlist struct {
	ID        int64 // 0 until the project's list is first set
	ProjectID int64
	// ExpiresAt is when the list stops applying, in seconds since the
	// epoch; nil: never.
	ExpiresAt *int64
	Items     []string // CVE ids, never nil
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ProjectSettings are a project's settings beyond its row: Harbor's
// project metadata (but "public", which is Project.Public), its CVE
// allowlist and its storage limit.
type ProjectSettings struct {
	Metadata     map[string]string // never nil
	CVEAllowlist CVEAllowlist
	StorageLimit int64 // bytes; UnlimitedStorage when none was set
}

// ProjectChange changes a project's settings; nil and empty fields are
// left as they are.
type ProjectChange struct {
	Public *bool
	// Metadata sets these keys; "public" is not one (use Public).
	Metadata map[string]string
	// AddOnly: a key of Metadata the project already has is ErrConflict.
	AddOnly      bool
	CVEAllowlist *CVEAllowlist // replaces the list (its ID and ProjectID are ignored)
	StorageLimit *int64
}

// ProjectArtifact is an artifact with its repository, in a listing across
// a project's repositories.
type ProjectArtifact struct {
	Repo string
	ArtifactInfo
}

// ProjectArtifactQuery selects artifacts across a project's repositories.
// Keys: those of Catalog.Artifacts, and repository_name (the full name).
type ProjectArtifactQuery struct {
	ListQuery
	// LatestInRepository keeps only the newest matching artifact of each
	// repository.
	LatestInRepository bool
	// WithoutTags leaves Tags nil instead of reading them.
	WithoutTags bool
}

// ProjectSettingsStore keeps project settings and answers the per-project
// queries of the management API (summary, artifacts of a project).
// Settings rows go with their project when it is deleted.
type ProjectSettingsStore interface {
	// CreateProjectWith creates p as AccessStore.CreateProject does and
	// applies c, in one transaction.
	CreateProjectWith(ctx context.Context, p *Project, c ProjectChange) error
	// ProjectSettings returns the settings of each project of ids that
	// exists (with defaults for what was never set).
	ProjectSettings(ctx context.Context, ids ...int64) (map[int64]*ProjectSettings, error)
	// ChangeProject applies c to project id in one transaction and bumps
	// its update time; ErrNotFound if there is no such project,
	// ErrConflict for an existing key with c.AddOnly.
	ChangeProject(ctx context.Context, id int64, c ProjectChange) error
	// DeleteProjectMetadata removes one metadata key; ErrNotFound if the
	// project does not have it.
	DeleteProjectMetadata(ctx context.Context, id int64, name string) error
	// ProjectMemberCounts counts a project's members by role id.
	ProjectMemberCounts(ctx context.Context, projectID int64) (map[int]int64, error)
	// ProjectStorageUsed is the storage a project (by name) uses, as its
	// quota counts it (quota.go): the sizes of the distinct blobs and
	// manifests its repositories hold, each counted once however many of
	// its repositories hold it (Harbor counts a project's distinct blobs,
	// manifests included, the same way). It reads the value the store
	// keeps at every change, not a sum.
	ProjectStorageUsed(ctx context.Context, project string) (int64, error)
	// ProjectArtifacts lists the top-level artifacts of every repository
	// of project, newest first, with the total count.
	ProjectArtifacts(ctx context.Context, project string, q ProjectArtifactQuery) ([]ProjectArtifact, int64, error)
}
