package immutable

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

type guardEnv struct {
	t     *testing.T
	ctx   context.Context
	store *sqlstore.Store
	g     *Guard
}

func newGuardEnv(t *testing.T) *guardEnv {
	s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &guardEnv{t: t, ctx: t.Context(), store: s, g: NewGuard(s)}
}

func (e *guardEnv) project(name string) int64 {
	e.t.Helper()
	p := &meta.Project{Name: name}
	if err := e.store.CreateProject(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

func (e *guardEnv) rule(projectID int64, r meta.ImmutableRule) *meta.ImmutableRule {
	e.t.Helper()
	r.ProjectID = projectID
	if err := e.store.CreateImmutableRule(e.ctx, &r); err != nil {
		e.t.Fatal(err)
	}
	return &r
}

// image links a fresh config and layer into repo and returns a manifest
// over them, not yet stored.
func (e *guardEnv) image(repo string) *meta.Manifest {
	e.t.Helper()
	seed := fmt.Sprint(repo, time.Now().UnixNano())
	var refs []oci.Ref
	for _, s := range []string{"config " + seed, "layer " + seed} {
		d := digest.FromString(s)
		if err := e.store.CommitBlob(e.ctx, repo, d, int64(len(s)), ""); err != nil {
			e.t.Fatal(err)
		}
		refs = append(refs, oci.Ref{Digest: d, Size: int64(len(s))})
	}
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, refs[0].Digest, refs[0].Size, refs[1].Digest, refs[1].Size)
	return &meta.Manifest{Repo: repo, Digest: digest.FromString(body), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(body)), Body: []byte(body), Refs: refs}
}

func (e *guardEnv) immutable(err error, tag string) {
	e.t.Helper()
	var ie *meta.ImmutableTagError
	if !errors.As(err, &ie) || ie.Tag != tag {
		e.t.Fatalf("err = %v, want *meta.ImmutableTagError for %s", err, tag)
	}
}

func (e *guardEnv) ok(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestGuard(t *testing.T) {
	e := newGuardEnv(t)
	proj := e.project("proj")
	e.project("other")
	a, b := e.image("proj/app"), e.image("proj/app")

	// No rule yet: tags move freely.
	e.ok(e.g.PutManifest(e.ctx, a, []string{"v1"}))
	e.ok(e.g.PutManifest(e.ctx, b, []string{"v1"}))
	e.ok(e.g.PutManifest(e.ctx, a, []string{"v1"}))

	// A rule created now is enforced by the next push.
	r := e.rule(proj, rule(one(sel(RepoMatches, "app")), one(sel(Matches, "v*"))))
	e.immutable(e.g.PutManifest(e.ctx, b, []string{"v1"}), "v1")
	e.ok(e.g.PutManifest(e.ctx, a, []string{"v1"})) // the same digest: a retry succeeds
	e.ok(e.g.PutManifest(e.ctx, b, []string{"latest"}))
	e.ok(e.g.PutManifest(e.ctx, b, nil)) // by digest
	e.immutable(e.g.DeleteTag(e.ctx, "proj/app", "v1"), "v1")
	e.immutable(e.g.DeleteManifest(e.ctx, "proj/app", a.Digest), "v1")
	e.immutable(e.g.DeleteRepository(e.ctx, "proj/app"), "v1")
	e.ok(e.g.DeleteTag(e.ctx, "proj/app", "latest"))

	// Other repositories and projects are not concerned.
	c := e.image("proj/web")
	e.ok(e.g.PutManifest(e.ctx, c, []string{"v1"}))
	e.ok(e.g.PutManifest(e.ctx, e.image("proj/web"), []string{"v1"}))
	o := e.image("other/app")
	e.ok(e.g.PutManifest(e.ctx, o, []string{"v1"}))
	e.ok(e.g.PutManifest(e.ctx, e.image("other/app"), []string{"v1"}))
	e.ok(e.g.DeleteRepository(e.ctx, "other/app"))
	n := e.image("noproject")
	e.ok(e.g.PutManifest(e.ctx, n, []string{"v1"}))
	e.ok(e.g.PutManifest(e.ctx, e.image("noproject"), []string{"v1"}))

	// Disabled, the rule has no effect.
	r.Disabled = true
	e.ok(e.store.UpdateImmutableRule(e.ctx, r))
	e.ok(e.g.PutManifest(e.ctx, b, []string{"v1"}))
	e.ok(e.g.DeleteTag(e.ctx, "proj/app", "v1"))

	rs, err := e.g.Rules(e.ctx, "proj")
	e.ok(err)
	if !rs.Empty() {
		t.Error("Rules of a project whose only rule is disabled: not empty")
	}
	rs, err = e.g.Rules(e.ctx, "")
	if err != nil || !rs.Empty() {
		t.Errorf("Rules of no project: %v, %v", rs, err)
	}
}
