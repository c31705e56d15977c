package immutable

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Guard makes the writes that move or delete tags respect the projects'
// rules: the registry's pushes and deletes, the API's deletes, retention.
// Each write reads the enabled rules of its project (one indexed query; no
// cache, so a rule is enforced by the next write on any replica) and
// passes the matching TagGuard to the store, which checks it under the
// lock of the tag rows it moves or deletes. Reads (manifest GET and HEAD)
// never come here.
type Guard struct {
	store meta.ImmutableStore
}

// NewGuard returns the guard over store.
func NewGuard(store meta.ImmutableStore) *Guard { return &Guard{store: store} }

// Rules returns the enabled rules of project.
func (g *Guard) Rules(ctx context.Context, project string) (Rules, error) {
	if project == "" {
		return Rules{}, nil
	}
	rs, err := g.store.EnabledImmutableRules(ctx, project)
	if err != nil {
		return Rules{}, err
	}
	return NewRules(rs), nil
}

// TagGuard returns the guard of repo (a full name, "proj/app"): which of
// its tags are immutable now; nil if none can be.
func (g *Guard) TagGuard(ctx context.Context, repo string) (meta.TagGuard, error) {
	project, path := SplitRepository(repo)
	rs, err := g.Rules(ctx, project)
	if err != nil {
		return nil, err
	}
	return rs.Guard(path), nil
}

// PutManifest stores m and points tags at it, refusing with
// *meta.ImmutableTagError to move an immutable tag to another digest.
func (g *Guard) PutManifest(ctx context.Context, m *meta.Manifest, tags []string) error {
	var guard meta.TagGuard
	if len(tags) > 0 { // a push by digest moves no tag: no rules to read
		var err error
		if guard, err = g.TagGuard(ctx, m.Repo); err != nil {
			return err
		}
	}
	return g.store.PutManifestGuarded(ctx, m, tags, guard)
}

// DeleteManifest deletes a manifest and its tags, as /v2 and the API
// delete an artifact: refusing with *meta.ImmutableTagError if one of its
// tags is immutable, and with meta.ErrManifestReferenced if an index of
// the repository references it (Harbor refuses both; deleting the index
// first then its children works).
func (g *Guard) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	guard, err := g.TagGuard(ctx, repo)
	if err != nil {
		return err
	}
	return g.store.DeleteArtifactGuarded(ctx, repo, d, guard)
}

// DeleteTag deletes a tag, refusing with *meta.ImmutableTagError if it is
// immutable.
func (g *Guard) DeleteTag(ctx context.Context, repo, tag string) error {
	guard, err := g.TagGuard(ctx, repo)
	if err != nil {
		return err
	}
	return g.store.DeleteTagGuarded(ctx, repo, tag, guard)
}

// DeleteRepository deletes a repository, refusing with
// *meta.ImmutableTagError if any of its tags is immutable.
func (g *Guard) DeleteRepository(ctx context.Context, repo string) error {
	guard, err := g.TagGuard(ctx, repo)
	if err != nil {
		return err
	}
	return g.store.DeleteRepositoryGuarded(ctx, repo, guard)
}

// CopyArtifact copies artifact d from one repository to another with its
// tags, refusing with *meta.ImmutableTagError to move an immutable tag of
// the destination to another digest.
func (g *Guard) CopyArtifact(ctx context.Context, from, to string, d digest.Digest) (meta.CopyResult, error) {
	guard, err := g.TagGuard(ctx, to)
	if err != nil {
		return meta.CopyResult{}, err
	}
	return g.store.CopyArtifactGuarded(ctx, from, to, d, guard)
}
