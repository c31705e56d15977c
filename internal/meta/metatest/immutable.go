package metatest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// ImmutableFullStore is a store with repositories, projects and tag
// immutability rules.
type ImmutableFullStore interface {
	FullStore
	meta.ImmutableStore
}

// RunImmutable is the suite for meta.ImmutableStore. open returns a fresh,
// empty store (and arranges its own cleanup).
func RunImmutable(t *testing.T, open func(t *testing.T) ImmutableFullStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s ImmutableFullStore)
	}{
		{"Rules", testImmutableRules},
		{"RuleConflictsAndLimit", testImmutableRuleConflicts},
		{"RulesGoWithProject", testImmutableRulesGoWithProject},
		{"GuardedPut", testGuardedPut},
		{"GuardedDeletes", testGuardedDeletes},
		{"ArtifactDeleteOfAChild", testArtifactDeleteOfAChild},
		{"GuardedCopy", testGuardedCopy},
		{"GuardedPutRace", testGuardedPutRace},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func immutableProject(t *testing.T, s ImmutableFullStore, name string) *meta.Project {
	t.Helper()
	p := &meta.Project{Name: name}
	noErr(t, s.CreateProject(t.Context(), p))
	return p
}

// newRule is a rule protecting tags matching tagPattern in repositories
// matching repoPattern.
func newRule(projectID int64, tagPattern, repoPattern string) *meta.ImmutableRule {
	return &meta.ImmutableRule{
		ProjectID: projectID, Action: "immutable", Template: "immutable_template",
		TagSelectors: []meta.ImmutableSelector{{Kind: "doublestar", Decoration: "matches", Pattern: tagPattern}},
		ScopeSelectors: map[string][]meta.ImmutableSelector{
			"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: repoPattern}},
		},
	}
}

func sameRule(t *testing.T, got, want *meta.ImmutableRule) {
	t.Helper()
	g, w := *got, *want
	if g.CreatedAt.IsZero() || g.UpdatedAt.IsZero() {
		t.Fatalf("rule %d without times: %+v", g.ID, g)
	}
	g.CreatedAt, g.UpdatedAt = w.CreatedAt, w.UpdatedAt
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("rule = %+v, want %+v", g, w)
	}
}

func ruleIDs(rules []meta.ImmutableRule) []int64 {
	out := []int64{}
	for _, r := range rules {
		out = append(out, r.ID)
	}
	return out
}

func testImmutableRules(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	p := immutableProject(t, s, "imm")
	other := immutableProject(t, s, "other")

	r1 := newRule(p.ID, "v*", "**")
	r1.Priority = 3
	r1.Params = map[string]any{"note": "kept as given", "n": 2.0}
	r1.TagSelectors[0].Extras = `{"untagged":false}`
	noErr(t, s.CreateImmutableRule(ctx, r1))
	if r1.ID == 0 || r1.CreatedAt.IsZero() {
		t.Fatalf("created rule: %+v", r1)
	}
	got, err := s.ImmutableRule(ctx, p.ID, r1.ID)
	noErr(t, err)
	sameRule(t, got, r1)
	if _, err := s.ImmutableRule(ctx, other.ID, r1.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("rule of another project: %v, want ErrNotFound", err)
	}

	r2 := newRule(p.ID, "release-{a,b}", "app/**")
	r2.Disabled = true
	noErr(t, s.CreateImmutableRule(ctx, r2))
	r3 := newRule(p.ID, "**", "db")
	r3.Priority = 1
	noErr(t, s.CreateImmutableRule(ctx, r3))
	noErr(t, s.CreateImmutableRule(ctx, newRule(other.ID, "**", "**")))

	list, total, err := s.ListImmutableRules(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	noErr(t, err)
	equal(t, total, int64(3), "total")
	equal(t, ruleIDs(list), []int64{r1.ID, r2.ID, r3.ID}, "rules by id")
	sameRule(t, &list[1], r2)
	list, total, err = s.ListImmutableRules(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 2, Size: 2}})
	noErr(t, err)
	equal(t, total, int64(3), "total of page 2")
	equal(t, ruleIDs(list), []int64{r3.ID}, "page 2")
	list, _, err = s.ListImmutableRules(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10},
		Where: []meta.Cond{{Key: "disabled", Op: meta.Equal, Values: []string{"false"}}},
		Sort:  []meta.Order{{Key: "priority"}}})
	noErr(t, err)
	equal(t, ruleIDs(list), []int64{r3.ID, r1.ID}, "enabled rules by priority")
	list, _, err = s.ListImmutableRules(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10},
		Where: []meta.Cond{{Key: "id", Op: meta.Equal, Values: []string{fmt.Sprint(r2.ID)}}}})
	noErr(t, err)
	equal(t, ruleIDs(list), []int64{r2.ID}, "q id")
	var qe *meta.QueryError
	if _, _, err := s.ListImmutableRules(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10},
		Where: []meta.Cond{{Key: "tag_filter", Op: meta.Equal, Values: []string{"x"}}}}); !errors.As(err, &qe) {
		t.Fatalf("unknown key: %v, want *meta.QueryError", err)
	}

	enabled, err := s.EnabledImmutableRules(ctx, "imm")
	noErr(t, err)
	equal(t, ruleIDs(enabled), []int64{r1.ID, r3.ID}, "enabled rules of imm")
	sameRule(t, &enabled[0], r1)
	enabled, err = s.EnabledImmutableRules(ctx, "nope")
	noErr(t, err)
	equal(t, len(enabled), 0, "rules of an unknown project")

	// Update replaces everything but the ids and the creation time.
	upd := newRule(p.ID, "stable", "web")
	upd.ID, upd.Disabled, upd.Priority = r2.ID, false, 9
	noErr(t, s.UpdateImmutableRule(ctx, upd))
	if !upd.CreatedAt.Equal(r2.CreatedAt) || upd.UpdatedAt.IsZero() {
		t.Fatalf("updated times: %+v, created %v", upd, r2.CreatedAt)
	}
	got, err = s.ImmutableRule(ctx, p.ID, r2.ID)
	noErr(t, err)
	sameRule(t, got, upd)
	enabled, err = s.EnabledImmutableRules(ctx, "imm")
	noErr(t, err)
	equal(t, ruleIDs(enabled), []int64{r1.ID, r2.ID, r3.ID}, "enabled after update")

	wrong := newRule(other.ID, "x", "y")
	wrong.ID = r2.ID
	isErr(t, s.UpdateImmutableRule(ctx, wrong), meta.ErrNotFound)
	missing := newRule(p.ID, "x", "y")
	missing.ID = r3.ID + 1000
	isErr(t, s.UpdateImmutableRule(ctx, missing), meta.ErrNotFound)

	isErr(t, s.DeleteImmutableRule(ctx, other.ID, r1.ID), meta.ErrNotFound)
	noErr(t, s.DeleteImmutableRule(ctx, p.ID, r1.ID))
	isErr(t, s.DeleteImmutableRule(ctx, p.ID, r1.ID), meta.ErrNotFound)
	if _, err := s.ImmutableRule(ctx, p.ID, r1.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleted rule: %v", err)
	}
	isErr(t, s.CreateImmutableRule(ctx, newRule(999999, "v*", "**")), meta.ErrNotFound)
}

func testImmutableRuleConflicts(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	p := immutableProject(t, s, "imm")
	other := immutableProject(t, s, "other")
	r := newRule(p.ID, "v*", "**")
	noErr(t, s.CreateImmutableRule(ctx, r))

	// The same selectors again: a conflict, whatever else differs.
	dup := newRule(p.ID, "v*", "**")
	dup.Priority, dup.Disabled, dup.Params = 5, true, map[string]any{"a": "b"}
	dup.TagSelectors[0].Extras = `{"untagged":true}`
	isErr(t, s.CreateImmutableRule(ctx, dup), meta.ErrConflict)
	// In another project, or with other selectors: none.
	noErr(t, s.CreateImmutableRule(ctx, newRule(other.ID, "v*", "**")))
	excl := newRule(p.ID, "v*", "**")
	excl.TagSelectors[0].Decoration = "excludes"
	noErr(t, s.CreateImmutableRule(ctx, excl))
	// An update onto another rule's selectors conflicts; onto its own not.
	same := newRule(p.ID, "v*", "**")
	same.ID = excl.ID
	isErr(t, s.UpdateImmutableRule(ctx, same), meta.ErrConflict)
	mine := newRule(p.ID, "v*", "**")
	mine.ID, mine.Disabled = r.ID, true
	noErr(t, s.UpdateImmutableRule(ctx, mine))

	for i := 2; i < meta.MaxImmutableRules; i++ {
		noErr(t, s.CreateImmutableRule(ctx, newRule(p.ID, fmt.Sprintf("t%d", i), "**")))
	}
	isErr(t, s.CreateImmutableRule(ctx, newRule(p.ID, "one-too-many", "**")), meta.ErrRuleLimit)
	_, total, err := s.ListImmutableRules(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 1}})
	noErr(t, err)
	equal(t, total, int64(meta.MaxImmutableRules), "rules at the limit")
}

func testImmutableRulesGoWithProject(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	p := immutableProject(t, s, "gone")
	noErr(t, s.CreateImmutableRule(ctx, newRule(p.ID, "v*", "**")))
	noErr(t, s.DeleteProject(ctx, p.ID))
	list, total, err := s.ListImmutableRules(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	noErr(t, err)
	if total != 0 || len(list) != 0 {
		t.Fatalf("rules of a deleted project: %d %+v", total, list)
	}
	again := immutableProject(t, s, "gone")
	enabled, err := s.EnabledImmutableRules(ctx, "gone")
	noErr(t, err)
	if len(enabled) != 0 {
		t.Fatalf("a project re-created under the name has rules: %+v", enabled)
	}
	noErr(t, s.CreateImmutableRule(ctx, newRule(again.ID, "v*", "**")))
}

// protect is a guard protecting the tags named.
func protect(names ...string) meta.TagGuard {
	return func(tag string) bool {
		for _, n := range names {
			if n == tag {
				return true
			}
		}
		return false
	}
}

// imageManifest builds (and links the blobs of) an image in repo from seed,
// without storing the manifest.
func imageManifest(t *testing.T, s meta.Store, repo, seed string) *meta.Manifest {
	t.Helper()
	cfg := commitBlob(t, s, repo, `{"seed":"`+seed+`"}`)
	layer := commitBlob(t, s, repo, "layer of "+seed)
	return manifestOf(t, repo, imageBody(cfg, []oci.Ref{layer}, nil))
}

func immutableErr(t *testing.T, err error, repo, tag string, d digest.Digest, del bool) {
	t.Helper()
	var ie *meta.ImmutableTagError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *meta.ImmutableTagError for %s:%s", err, repo, tag)
	}
	equal(t, *ie, meta.ImmutableTagError{Repo: repo, Tag: tag, Digest: d, Delete: del}, "ImmutableTagError")
	if ie.Error() == "" {
		t.Fatal("ImmutableTagError.Error() is empty")
	}
}

func testGuardedPut(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	guard := protect("v1", "v2")
	a := imageManifest(t, s, "p/app", "a")
	b := imageManifest(t, s, "p/app", "b")

	// A protected tag is created, and re-pushed with its digest.
	noErr(t, s.PutManifestGuarded(ctx, a, []string{"v1", "latest"}, guard))
	noErr(t, s.PutManifestGuarded(ctx, a, []string{"v1"}, guard))
	checkManifest(t, s, "p/app", "v1", a)

	// Another digest: refused, and the whole write with it (the manifest
	// and the unprotected tag of the same push included).
	immutableErr(t, s.PutManifestGuarded(ctx, b, []string{"latest", "v1"}, guard), "p/app", "v1", a.Digest, false)
	checkManifest(t, s, "p/app", "v1", a)
	checkManifest(t, s, "p/app", "latest", a)
	noManifest(t, s, "p/app", string(b.Digest))

	// Unprotected tags move; a nil guard protects nothing; another
	// repository's tag of the same name is another tag.
	noErr(t, s.PutManifestGuarded(ctx, b, []string{"latest", "v2"}, guard))
	checkManifest(t, s, "p/app", "latest", b)
	noErr(t, s.PutManifestGuarded(ctx, b, []string{"v1"}, nil))
	checkManifest(t, s, "p/app", "v1", b)
	c := imageManifest(t, s, "p/other", "c")
	noErr(t, s.PutManifestGuarded(ctx, c, []string{"v2"}, guard))
	checkManifest(t, s, "p/other", "v2", c)
	checkManifest(t, s, "p/app", "v2", b)
}

func testGuardedDeletes(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	guard := protect("v1")
	a := pushImage(t, s, "p/app", "a", "v1", "latest")
	b := pushImage(t, s, "p/app", "b", "dev")

	immutableErr(t, s.DeleteTagGuarded(ctx, "p/app", "v1", guard), "p/app", "v1", a.Digest, true)
	checkManifest(t, s, "p/app", "v1", a)
	wantErr(t, s.DeleteTagGuarded(ctx, "p/app", "v9", guard), meta.ErrTagNotFound, "DeleteTagGuarded of an unknown tag")
	// The other tags on an artifact with a protected tag may go.
	noErr(t, s.DeleteTagGuarded(ctx, "p/app", "latest", guard))
	noManifest(t, s, "p/app", "latest")

	immutableErr(t, s.DeleteManifestGuarded(ctx, "p/app", a.Digest, guard), "p/app", "v1", a.Digest, true)
	checkManifest(t, s, "p/app", string(a.Digest), a)
	checkManifest(t, s, "p/app", "v1", a)
	noErr(t, s.DeleteManifestGuarded(ctx, "p/app", b.Digest, guard))
	noManifest(t, s, "p/app", string(b.Digest))
	wantErr(t, s.DeleteManifestGuarded(ctx, "p/app", b.Digest, guard), meta.ErrManifestNotFound, "DeleteManifestGuarded twice")

	immutableErr(t, s.DeleteRepositoryGuarded(ctx, "p/app", guard), "p/app", "v1", a.Digest, true)
	checkManifest(t, s, "p/app", "v1", a)
	equal(t, tags(t, s, "p/app", "", 10), []string{"v1"}, "tags after a refused repository delete")
	noErr(t, s.DeleteRepositoryGuarded(ctx, "p/app", protect("other")))
	noManifest(t, s, "p/app", "v1")
	wantErr(t, s.DeleteRepositoryGuarded(ctx, "p/app", guard), meta.ErrRepoNotFound, "DeleteRepositoryGuarded twice")

	// A nil guard deletes whatever is there.
	c := pushImage(t, s, "p/lib", "c", "v1")
	noErr(t, s.DeleteTagGuarded(ctx, "p/lib", "v1", nil))
	noErr(t, s.DeleteManifestGuarded(ctx, "p/lib", c.Digest, nil))
}

// testArtifactDeleteOfAChild: the API's artifact delete refuses a child
// of an index (ErrManifestReferenced, nothing changed), tagged or not, and
// deletes it once no index references it; the guard still applies.
func testArtifactDeleteOfAChild(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	const repo = "p/multi"
	c1 := pushImage(t, s, repo, "c1")
	c2 := pushImage(t, s, repo, "c2", "c2-tag")
	idx := manifestOf(t, repo, indexBody(manifestDesc(c1), manifestDesc(c2)))
	put(t, s, idx, "v1")
	other := manifestOf(t, repo, indexBody(manifestDesc(c2)))
	put(t, s, other)
	for _, c := range []*meta.Manifest{c1, c2} {
		wantErr(t, s.DeleteArtifactGuarded(ctx, repo, c.Digest, nil), meta.ErrManifestReferenced, "DeleteArtifactGuarded of a child")
		checkManifest(t, s, repo, string(c.Digest), c)
	}
	checkManifest(t, s, repo, "c2-tag", c2)
	// The index goes (not protected); c1 is then nobody's child, c2 still
	// is (other).
	immutableErr(t, s.DeleteArtifactGuarded(ctx, repo, idx.Digest, protect("v1")), repo, "v1", idx.Digest, true)
	noErr(t, s.DeleteArtifactGuarded(ctx, repo, idx.Digest, nil))
	noErr(t, s.DeleteArtifactGuarded(ctx, repo, c1.Digest, nil))
	noManifest(t, s, repo, string(c1.Digest))
	wantErr(t, s.DeleteArtifactGuarded(ctx, repo, c2.Digest, nil), meta.ErrManifestReferenced, "DeleteArtifactGuarded of other's child")
	noErr(t, s.DeleteArtifactGuarded(ctx, repo, other.Digest, nil))
	noErr(t, s.DeleteArtifactGuarded(ctx, repo, c2.Digest, nil))
	noManifest(t, s, repo, "c2-tag")
	wantErr(t, s.DeleteArtifactGuarded(ctx, repo, c2.Digest, nil), meta.ErrManifestNotFound, "DeleteArtifactGuarded twice")
}

func testGuardedCopy(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	guard := protect("v1")
	a := pushImage(t, s, "p/src", "a", "v1", "latest")
	b := pushImage(t, s, "p/dst", "b", "v1")

	// The destination's protected tag would move: refused, nothing copied.
	_, err := s.CopyArtifactGuarded(ctx, "p/src", "p/dst", a.Digest, guard)
	immutableErr(t, err, "p/dst", "v1", b.Digest, false)
	checkManifest(t, s, "p/dst", "v1", b)
	noManifest(t, s, "p/dst", string(a.Digest))
	noManifest(t, s, "p/dst", "latest")

	// Where it does not exist yet, or points at the same digest, it is set.
	res, err := s.CopyArtifactGuarded(ctx, "p/src", "p/new", a.Digest, guard)
	noErr(t, err)
	equal(t, res.Tags, []string{"latest", "v1"}, "tags copied")
	checkManifest(t, s, "p/new", "v1", a)
	_, err = s.CopyArtifactGuarded(ctx, "p/src", "p/new", a.Digest, guard)
	noErr(t, err)
	// A nil guard moves it.
	_, err = s.CopyArtifactGuarded(ctx, "p/src", "p/dst", a.Digest, nil)
	noErr(t, err)
	checkManifest(t, s, "p/dst", "v1", a)
}

// testGuardedPutRace: pushes of different digests racing to create one
// protected tag. Exactly one wins; every other is refused and leaves the
// tag where the winner put it.
func testGuardedPutRace(t *testing.T, s ImmutableFullStore) {
	ctx := t.Context()
	const writers, rounds = 6, 5
	guard := protect("release")
	ms := make([]*meta.Manifest, writers)
	for i := range ms {
		ms[i] = imageManifest(t, s, "p/race", fmt.Sprint("w", i))
	}
	for round := range rounds {
		repo := fmt.Sprint("p/race", round)
		for i, m := range ms { // the same content in this round's repository
			for _, ref := range m.Refs {
				_, err := s.MountBlob(ctx, repo, "p/race", ref.Digest)
				noErr(t, err)
			}
			c := *m
			c.Repo = repo
			ms[i] = &c
		}
		errs := make([]error, writers)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range writers {
			wg.Go(func() {
				start.Wait()
				errs[i] = s.PutManifestGuarded(ctx, ms[i], []string{"release"}, guard)
			})
		}
		start.Done()
		wg.Wait()
		winner := -1
		for i, err := range errs {
			var ie *meta.ImmutableTagError
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both set the protected tag", round, winner, i)
			case err == nil:
				winner = i
			case !errors.As(err, &ie):
				t.Fatalf("round %d, writer %d: %v, want *meta.ImmutableTagError", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer set the tag: %v", round, errs)
		}
		checkManifest(t, s, repo, "release", ms[winner])
		for i, err := range errs {
			if i != winner {
				immutableErr(t, err, repo, "release", ms[winner].Digest, false)
				noManifest(t, s, repo, string(ms[i].Digest))
			}
		}
	}
}
