package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// MaxImmutableRules bounds the tag immutability rules of one project: every
// push or delete of a tag in it reads and matches all of them. (Harbor has
// no bound.)
const MaxImmutableRules = 100

// ErrRuleLimit: the project already has MaxImmutableRules rules.
var ErrRuleLimit = errors.New("too many rules")

// ErrManifestReferenced: an artifact delete was refused because an index of
// the repository references the manifest (an index's child lives and dies
// with its index; Harbor's "the deleting artifact is referenced by
// others"). The delete changed nothing.
var ErrManifestReferenced = errors.New("the deleting artifact is referenced by others")

// ImmutableSelector is one selector of a tag immutability rule (Harbor's
// ImmutableSelector): a doublestar pattern and how it is applied.
type ImmutableSelector struct {
	Kind       string // "doublestar"
	Decoration string // matches, excludes (tags); repoMatches, repoExcludes (repositories)
	Pattern    string
	Extras     string // kept as given; it changes nothing here
}

// ImmutableRule is a project's tag immutability rule (Harbor's
// ImmutableRule). Which tags it protects is the business of
// internal/immutable; the store keeps the rule as given.
type ImmutableRule struct {
	ID        int64
	ProjectID int64
	Priority  int64
	Disabled  bool
	Action    string
	Template  string
	// Params is kept as given (a JSON object); nil when none.
	Params         map[string]any
	TagSelectors   []ImmutableSelector
	ScopeSelectors map[string][]ImmutableSelector
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TagGuard reports whether a tag of the repository a write is about must
// keep the digest it points at: it may be created, and "moved" to the digest
// it already has, but neither moved to another digest nor deleted. A nil
// TagGuard protects nothing.
type TagGuard func(tag string) bool

// ImmutableTagError says a guarded write was refused because it would have
// moved or deleted a protected tag; the write changed nothing.
type ImmutableTagError struct {
	Repo, Tag string
	// Digest is what the tag points at and keeps pointing at.
	Digest digest.Digest
	// Delete: the write would have deleted the tag (else moved it).
	Delete bool
}

func (e *ImmutableTagError) Error() string {
	what := "overwritten with another digest"
	if e.Delete {
		what = "deleted"
	}
	return fmt.Sprintf("the tag %s:%s is immutable and cannot be %s", e.Repo, e.Tag, what)
}

// ImmutableStore keeps projects' tag immutability rules, which go with
// their project when it is deleted, and offers the writes that move or
// delete tags with a TagGuard checked in the same transaction, under the
// lock of the tag rows concerned: two writers racing for one protected tag
// cannot both pass the check.
type ImmutableStore interface {
	// CreateImmutableRule adds r to project r.ProjectID and sets its ID and
	// times. ErrNotFound: no such project; ErrConflict: the project has a
	// rule with the same selectors; ErrRuleLimit: it has
	// MaxImmutableRules already.
	CreateImmutableRule(ctx context.Context, r *ImmutableRule) error
	// ImmutableRule returns rule id of project projectID; ErrNotFound if
	// there is none (or it belongs to another project).
	ImmutableRule(ctx context.Context, projectID, id int64) (*ImmutableRule, error)
	// ListImmutableRules lists a project's rules by id, with the total
	// count. Keys: id, priority, disabled.
	ListImmutableRules(ctx context.Context, projectID int64, q ListQuery) ([]ImmutableRule, int64, error)
	// UpdateImmutableRule replaces rule r.ID of project r.ProjectID (all
	// but its ids and creation time) and sets r's times. ErrNotFound,
	// ErrConflict as for CreateImmutableRule.
	UpdateImmutableRule(ctx context.Context, r *ImmutableRule) error
	// DeleteImmutableRule removes rule id of project projectID;
	// ErrNotFound if there is none.
	DeleteImmutableRule(ctx context.Context, projectID, id int64) error
	// EnabledImmutableRules returns the enabled rules of the project named
	// project, by id: what a write checks. None for an unknown project.
	EnabledImmutableRules(ctx context.Context, project string) ([]ImmutableRule, error)

	// PutManifestGuarded is Store.PutManifest refusing, with
	// *ImmutableTagError, to move a tag guard protects.
	PutManifestGuarded(ctx context.Context, m *Manifest, tags []string, guard TagGuard) error
	// DeleteManifestGuarded is Store.DeleteManifest refusing, with
	// *ImmutableTagError, when a tag on the manifest is protected.
	DeleteManifestGuarded(ctx context.Context, repo string, d digest.Digest, guard TagGuard) error
	// DeleteArtifactGuarded is DeleteManifestGuarded for a client's
	// artifact delete (/v2 and the API): it also refuses, with ErrManifestReferenced, a manifest that
	// an index of repo references, checked in the same transaction (an
	// index pushed meanwhile that references it is seen).
	DeleteArtifactGuarded(ctx context.Context, repo string, d digest.Digest, guard TagGuard) error
	// DeleteTagGuarded is Store.DeleteTag refusing, with
	// *ImmutableTagError, to delete a protected tag (ErrTagNotFound comes
	// first).
	DeleteTagGuarded(ctx context.Context, repo, tag string, guard TagGuard) error
	// DeleteRepositoryGuarded is Catalog.DeleteRepository refusing, with
	// *ImmutableTagError, when any tag of repo is protected.
	DeleteRepositoryGuarded(ctx context.Context, repo string, guard TagGuard) error
	// CopyArtifactGuarded is ArtifactDetails.CopyArtifact refusing, with
	// *ImmutableTagError, to move a tag of the destination (to) that guard
	// protects.
	CopyArtifactGuarded(ctx context.Context, from, to string, d digest.Digest, guard TagGuard) (CopyResult, error)
}
