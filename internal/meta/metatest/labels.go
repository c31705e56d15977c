package metatest

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// LabelStore is what the label suite needs: a store that is also the
// access store (projects, members), the catalog and the pull store, as
// every SQL store is.
type LabelStore interface {
	meta.Store
	meta.AccessStore
	meta.Catalog
	meta.PullStore
}

// RunLabels is the suite for meta.LabelCatalog and meta.PullStore. open
// returns a fresh, empty store (and arranges its own cleanup).
func RunLabels(t *testing.T, open func(t *testing.T) LabelStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s LabelStore)
	}{
		{"Labels", testLabels},
		{"ArtifactLabels", testArtifactLabels},
		{"ArtifactLabelsGoWithManifests", testArtifactLabelsCascade},
		{"RepositoryIDsAndDescription", testRepositoryIDs},
		{"AllRepositories", testAllRepositories},
		{"RecordPulls", testRecordPulls},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func page(n int) meta.Page { return meta.Page{Page: 1, Size: n} }

func labelNames(t *testing.T, s LabelStore, q meta.LabelQuery) []string {
	t.Helper()
	list, total, err := s.ListLabels(t.Context(), q)
	must(t, err, "ListLabels(%+v)", q)
	var out []string
	for _, l := range list {
		out = append(out, l.Name)
	}
	if total < int64(len(out)) {
		t.Fatalf("ListLabels(%+v): total %d < %d listed", q, total, len(out))
	}
	return out
}

func newProject(t *testing.T, s LabelStore, name string, public bool) *meta.Project {
	t.Helper()
	p := &meta.Project{Name: name, Public: public}
	must(t, s.CreateProject(t.Context(), p), "CreateProject(%s)", name)
	return p
}

func testLabels(t *testing.T, s LabelStore) {
	ctx := t.Context()
	dev, ops := newProject(t, s, "dev", false), newProject(t, s, "ops", false)
	before := time.Now().Add(-time.Second)
	g := &meta.Label{Name: "prod", Description: "production", Color: "#FF0000", Scope: meta.LabelScopeGlobal}
	must(t, s.CreateLabel(ctx, g), "CreateLabel global")
	if g.ID == 0 || g.CreatedAt.Before(before) || !g.UpdatedAt.Equal(g.CreatedAt) {
		t.Fatalf("CreateLabel did not set id and times: %+v", g)
	}
	wantErr(t, s.CreateLabel(ctx, &meta.Label{Name: "prod", Scope: meta.LabelScopeGlobal}), meta.ErrConflict, "a second global prod")
	// The same name is free in each project, once.
	pd := &meta.Label{Name: "prod", Scope: meta.LabelScopeProject, ProjectID: dev.ID}
	must(t, s.CreateLabel(ctx, pd), "CreateLabel dev/prod")
	must(t, s.CreateLabel(ctx, &meta.Label{Name: "prod", Scope: meta.LabelScopeProject, ProjectID: ops.ID}), "CreateLabel ops/prod")
	wantErr(t, s.CreateLabel(ctx, &meta.Label{Name: "prod", Scope: meta.LabelScopeProject, ProjectID: dev.ID}), meta.ErrConflict, "a second dev/prod")
	wantErr(t, s.CreateLabel(ctx, &meta.Label{Name: "x", Scope: meta.LabelScopeProject, ProjectID: ops.ID + 100}), meta.ErrNotFound,
		"a label of a missing project")
	for _, n := range []string{"stage", "qa-team", "QA"} {
		must(t, s.CreateLabel(ctx, &meta.Label{Name: n, Scope: meta.LabelScopeGlobal}), "CreateLabel %s", n)
	}

	got, err := s.GetLabel(ctx, pd.ID)
	must(t, err, "GetLabel")
	if got.Name != "prod" || got.Scope != meta.LabelScopeProject || got.ProjectID != dev.ID || !got.CreatedAt.Equal(pd.CreatedAt) {
		t.Fatalf("GetLabel = %+v, want %+v", got, pd)
	}
	if got, err := s.GetLabel(ctx, g.ID); err != nil || got.ProjectID != 0 || got.Color != "#FF0000" || got.Description != "production" {
		t.Fatalf("GetLabel(global) = %+v, %v", got, err)
	}
	_, err = s.GetLabel(ctx, 99999)
	wantErr(t, err, meta.ErrNotFound, "GetLabel(missing)")

	equal(t, labelNames(t, s, meta.LabelQuery{ListQuery: meta.ListQuery{Page: page(10)}}), []string{"prod", "stage", "qa-team", "QA"}, "global labels")
	equal(t, labelNames(t, s, meta.LabelQuery{ProjectID: dev.ID, ListQuery: meta.ListQuery{Page: page(10)}}), []string{"prod"}, "dev's labels")
	equal(t, labelNames(t, s, meta.LabelQuery{ListQuery: contains("name", "qa", page(10))}), []string{"qa-team", "QA"}, "global labels ~qa")
	sorted := meta.LabelQuery{ListQuery: meta.ListQuery{Page: page(2), Sort: []meta.Order{{Key: "name", Desc: true}}}}
	list, total, err := s.ListLabels(ctx, sorted)
	must(t, err, "ListLabels sorted")
	if total != 4 || len(list) != 2 || list[0].Name != "stage" || list[1].Name != "qa-team" {
		t.Fatalf("ListLabels sort=-name page 1 of 2: %d %+v", total, list)
	}
	_, _, err = s.ListLabels(ctx, meta.LabelQuery{ListQuery: meta.ListQuery{Page: page(10), Where: []meta.Cond{{Key: "owner_id", Values: []string{"1"}}}}})
	var qe *meta.QueryError
	if !errors.As(err, &qe) || qe.Key != "owner_id" {
		t.Fatalf("ListLabels(owner_id=1): %v, want a QueryError naming owner_id", err)
	}

	pd.Name, pd.Description, pd.Color = "production", "renamed", "#00FF00"
	must(t, s.UpdateLabel(ctx, pd), "UpdateLabel")
	if got, _ := s.GetLabel(ctx, pd.ID); got.Name != "production" || got.Color != "#00FF00" || got.UpdatedAt.Before(got.CreatedAt) {
		t.Fatalf("after UpdateLabel: %+v", got)
	}
	g.Name = "stage"
	wantErr(t, s.UpdateLabel(ctx, g), meta.ErrConflict, "renaming a global label to a taken name")
	wantErr(t, s.UpdateLabel(ctx, &meta.Label{ID: 99999, Name: "x"}), meta.ErrNotFound, "UpdateLabel(missing)")

	must(t, s.DeleteLabel(ctx, g.ID), "DeleteLabel")
	wantErr(t, s.DeleteLabel(ctx, g.ID), meta.ErrNotFound, "DeleteLabel twice")
	must(t, s.CreateLabel(ctx, &meta.Label{Name: "prod", Scope: meta.LabelScopeGlobal}), "a global prod again")

	// A project's labels go with it.
	must(t, s.DeleteProject(ctx, dev.ID), "DeleteProject")
	_, err = s.GetLabel(ctx, pd.ID)
	wantErr(t, err, meta.ErrNotFound, "a deleted project's label")
}

// labelled lists the digests of repo's artifacts matching q (label
// conditions), sorted.
func labelled(t *testing.T, s LabelStore, repo string, conds ...meta.Cond) []digest.Digest {
	t.Helper()
	arts, total, err := s.Artifacts(t.Context(), repo, meta.ListQuery{Page: page(100), Where: conds})
	must(t, err, "Artifacts(%s, %+v)", repo, conds)
	var out []digest.Digest
	for _, a := range arts {
		out = append(out, a.Digest)
	}
	slices.Sort(out)
	equal(t, int(total), len(out), "Artifacts(%s, %+v) total", repo, conds)
	return out
}

func testArtifactLabels(t *testing.T, s LabelStore) {
	ctx := t.Context()
	p := newProject(t, s, "dev", false)
	a, b := pushImage(t, s, "dev/app", "a", "v1"), pushImage(t, s, "dev/app", "b", "v2")
	x := &meta.Label{Name: "x", Scope: meta.LabelScopeGlobal}
	y := &meta.Label{Name: "y", Scope: meta.LabelScopeProject, ProjectID: p.ID}
	must(t, s.CreateLabel(ctx, x), "CreateLabel x")
	must(t, s.CreateLabel(ctx, y), "CreateLabel y")

	must(t, s.AddArtifactLabel(ctx, "dev/app", a.Digest, x.ID), "add x to a")
	must(t, s.AddArtifactLabel(ctx, "dev/app", a.Digest, y.ID), "add y to a")
	must(t, s.AddArtifactLabel(ctx, "dev/app", b.Digest, y.ID), "add y to b")
	wantErr(t, s.AddArtifactLabel(ctx, "dev/app", a.Digest, x.ID), meta.ErrConflict, "add x to a twice")
	wantErr(t, s.AddArtifactLabel(ctx, "dev/app", digest.FromString("none"), x.ID), meta.ErrManifestNotFound, "add to a missing manifest")
	wantErr(t, s.AddArtifactLabel(ctx, "dev/other", a.Digest, x.ID), meta.ErrManifestNotFound, "add to a manifest of another repository")
	wantErr(t, s.AddArtifactLabel(ctx, "dev/app", b.Digest, 99999), meta.ErrNotFound, "add a missing label")

	byDigest, err := s.ArtifactLabels(ctx, "dev/app", []digest.Digest{a.Digest, b.Digest, digest.FromString("none")})
	must(t, err, "ArtifactLabels")
	names := func(ls []meta.Label) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Name)
		}
		return out
	}
	if len(byDigest) != 2 || !slices.Equal(names(byDigest[a.Digest]), []string{"x", "y"}) || !slices.Equal(names(byDigest[b.Digest]), []string{"y"}) ||
		byDigest[b.Digest][0].ProjectID != p.ID {
		t.Fatalf("ArtifactLabels = %+v", byDigest)
	}
	if empty, err := s.ArtifactLabels(ctx, "dev/app", nil); err != nil || len(empty) != 0 {
		t.Fatalf("ArtifactLabels(none) = %v, %v", empty, err)
	}

	id := func(l *meta.Label) string { return itoa(l.ID) }
	both := sorted2(a.Digest, b.Digest)
	equal(t, labelled(t, s, "dev/app", meta.Cond{Key: "labels", Values: []string{id(x)}}), []digest.Digest{a.Digest}, "labels=x")
	equal(t, labelled(t, s, "dev/app", meta.Cond{Key: "labels", Values: []string{id(y)}}), both, "labels=y")
	equal(t, labelled(t, s, "dev/app", meta.Cond{Key: "labels", Op: meta.AllOf, Values: []string{id(x), id(y)}}), []digest.Digest{a.Digest}, "labels=(x y)")
	equal(t, labelled(t, s, "dev/app", meta.Cond{Key: "labels", Op: meta.AnyOf, Values: []string{id(x), id(y)}}), both, "labels={x y}")
	equal(t, labelled(t, s, "dev/app", meta.Cond{Key: "labels", Values: []string{"99999"}}), []digest.Digest(nil), "labels=missing")
	equal(t, labelled(t, s, "dev/app", meta.Cond{Key: "labels", Values: []string{id(y)}}, meta.Cond{Key: "tags", Values: []string{"v2"}}),
		[]digest.Digest{b.Digest}, "labels=y,tags=v2")
	for _, bad := range []meta.Cond{{Key: "labels", Values: []string{"x"}}, {Key: "labels", Op: meta.Fuzzy, Values: []string{"1"}}} {
		_, _, err := s.Artifacts(ctx, "dev/app", meta.ListQuery{Page: page(10), Where: []meta.Cond{bad}})
		var qe *meta.QueryError
		if !errors.As(err, &qe) || qe.Key != "labels" {
			t.Errorf("Artifacts(%+v): %v, want a QueryError naming labels", bad, err)
		}
	}

	must(t, s.RemoveArtifactLabel(ctx, "dev/app", a.Digest, y.ID), "remove y from a")
	wantErr(t, s.RemoveArtifactLabel(ctx, "dev/app", a.Digest, y.ID), meta.ErrNotFound, "remove y from a twice")
	equal(t, labelled(t, s, "dev/app", meta.Cond{Key: "labels", Values: []string{id(y)}}), []digest.Digest{b.Digest}, "labels=y after removal")

	// Deleting a label removes it from every artifact.
	must(t, s.DeleteLabel(ctx, y.ID), "DeleteLabel y")
	byDigest, err = s.ArtifactLabels(ctx, "dev/app", []digest.Digest{a.Digest, b.Digest})
	must(t, err, "ArtifactLabels")
	if len(byDigest) != 1 || !slices.Equal(names(byDigest[a.Digest]), []string{"x"}) {
		t.Fatalf("after DeleteLabel(y): %+v", byDigest)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func sorted2(a, b digest.Digest) []digest.Digest {
	out := []digest.Digest{a, b}
	slices.Sort(out)
	return out
}

// testArtifactLabelsCascade: an artifact's labels go with its manifest,
// deleted alone or with its repository; the same manifest pushed again
// has none.
func testArtifactLabelsCascade(t *testing.T, s LabelStore) {
	ctx := t.Context()
	x := &meta.Label{Name: "x", Scope: meta.LabelScopeGlobal}
	must(t, s.CreateLabel(ctx, x), "CreateLabel")
	a := pushImage(t, s, "dev/app", "a", "v1")
	b := pushImage(t, s, "dev/web", "b", "v1")
	must(t, s.AddArtifactLabel(ctx, "dev/app", a.Digest, x.ID), "label a")
	must(t, s.AddArtifactLabel(ctx, "dev/web", b.Digest, x.ID), "label b")

	must(t, s.DeleteManifest(ctx, "dev/app", a.Digest), "DeleteManifest")
	put(t, s, a, "v1")
	if got, err := s.ArtifactLabels(ctx, "dev/app", []digest.Digest{a.Digest}); err != nil || len(got) != 0 {
		t.Fatalf("labels of a re-pushed manifest: %+v %v", got, err)
	}
	must(t, s.DeleteRepository(ctx, "dev/web"), "DeleteRepository")
	pushImage(t, s, "dev/web", "b", "v1")
	if got, err := s.ArtifactLabels(ctx, "dev/web", []digest.Digest{b.Digest}); err != nil || len(got) != 0 {
		t.Fatalf("labels in a re-created repository: %+v %v", got, err)
	}
	must(t, s.DeleteLabel(ctx, x.ID), "DeleteLabel of a label on no artifact")
}

func testRepositoryIDs(t *testing.T, s LabelStore) {
	ctx := t.Context()
	pushImage(t, s, "dev/app", "a", "v1")
	commitBlob(t, s, "dev/web", "a blob") // a blob link creates a repository too
	app, err := s.Repository(ctx, "dev/app")
	must(t, err, "Repository(dev/app)")
	web, err := s.Repository(ctx, "dev/web")
	must(t, err, "Repository(dev/web)")
	if app.ID == 0 || web.ID == 0 || app.ID == web.ID || app.Description != "" || app.PullCount != 0 {
		t.Fatalf("repositories %+v %+v", app, web)
	}
	again, _ := s.Repository(ctx, "dev/app")
	equal(t, again.ID, app.ID, "the id of dev/app read again")

	time.Sleep(5 * time.Millisecond) // UpdatedAt moves on
	must(t, s.SetRepositoryDescription(ctx, "dev/app", "the app\n<b>bold</b>"), "SetRepositoryDescription")
	got, err := s.Repository(ctx, "dev/app")
	must(t, err, "Repository")
	if got.Description != "the app\n<b>bold</b>" || !got.UpdatedAt.After(app.UpdatedAt) || got.ID != app.ID {
		t.Fatalf("after SetRepositoryDescription: %+v (before %+v)", got, app)
	}
	list, _, err := s.ProjectRepositories(ctx, "dev", meta.ListQuery{Page: page(10)})
	must(t, err, "ProjectRepositories")
	if len(list) != 2 || list[0].Description != got.Description || list[0].ID != app.ID {
		t.Fatalf("ProjectRepositories: %+v", list)
	}
	wantErr(t, s.SetRepositoryDescription(ctx, "dev/none", "x"), meta.ErrRepoNotFound, "SetRepositoryDescription(missing)")

	// A repository deleted and pushed again is a new one: a new id, no
	// description.
	must(t, s.DeleteRepository(ctx, "dev/app"), "DeleteRepository")
	pushImage(t, s, "dev/app", "a", "v1")
	re, err := s.Repository(ctx, "dev/app")
	must(t, err, "Repository after re-push")
	if re.ID == app.ID || re.ID == web.ID || re.Description != "" {
		t.Fatalf("re-created repository: %+v (was %+v)", re, app)
	}
	arts, _, err := s.Artifacts(ctx, "dev/app", meta.ListQuery{Page: page(10)})
	must(t, err, "Artifacts")
	if len(arts) != 1 || arts[0].RepositoryID != re.ID {
		t.Fatalf("artifacts' repository id: %+v, want %d", arts, re.ID)
	}
}

func repoNames(t *testing.T, s LabelStore, q meta.RepoQuery) []string {
	t.Helper()
	list, total, err := s.AllRepositories(t.Context(), q)
	must(t, err, "AllRepositories(%+v)", q)
	var out []string
	for _, r := range list {
		out = append(out, r.Name)
	}
	if total < int64(len(out)) {
		t.Fatalf("AllRepositories(%+v): total %d < %d listed", q, total, len(out))
	}
	return out
}

func testAllRepositories(t *testing.T, s LabelStore) {
	ctx := t.Context()
	pub, priv, mine := newProject(t, s, "pub", true), newProject(t, s, "priv", false), newProject(t, s, "mine", false)
	u := &meta.User{Username: "u", PasswordHash: "x"}
	must(t, s.CreateUser(ctx, u), "CreateUser")
	must(t, s.SetMember(ctx, mine.ID, u.ID, 3), "SetMember")
	for _, r := range []string{"pub/a", "pub/b/c", "priv/x", "mine/y", "orphan/z", "noproject"} {
		commitBlob(t, s, r, "blob of "+r)
	}
	all := meta.ListQuery{Page: page(100)}
	equal(t, repoNames(t, s, meta.RepoQuery{All: true, ListQuery: all}), []string{"mine/y", "priv/x", "pub/a", "pub/b/c"}, "all")
	equal(t, repoNames(t, s, meta.RepoQuery{ListQuery: all}), []string{"pub/a", "pub/b/c"}, "public")
	equal(t, repoNames(t, s, meta.RepoQuery{MemberOf: u.ID, ListQuery: all}), []string{"mine/y", "pub/a", "pub/b/c"}, "u's")
	equal(t, repoNames(t, s, meta.RepoQuery{ProjectIDs: []int64{priv.ID, 99999}, ListQuery: all}), []string{"priv/x", "pub/a", "pub/b/c"}, "granted priv")
	equal(t, repoNames(t, s, meta.RepoQuery{MemberOf: u.ID, ProjectIDs: []int64{priv.ID}, ListQuery: contains("name", "X", page(100))}),
		[]string{"priv/x"}, "name=~X")
	equal(t, repoNames(t, s, meta.RepoQuery{All: true, ListQuery: meta.ListQuery{Page: page(100),
		Where: []meta.Cond{{Key: "project_id", Values: []string{itoa(pub.ID)}}}}}), []string{"pub/a", "pub/b/c"}, "project_id=pub")

	list, total, err := s.AllRepositories(ctx, meta.RepoQuery{All: true, ListQuery: meta.ListQuery{Page: meta.Page{Page: 2, Size: 3}}})
	must(t, err, "AllRepositories page 2")
	if total != 4 || len(list) != 1 || list[0].Name != "pub/b/c" || list[0].ProjectID != pub.ID || list[0].ID == 0 {
		t.Fatalf("AllRepositories page 2 of 3: %d %+v", total, list)
	}
	_, _, err = s.AllRepositories(ctx, meta.RepoQuery{All: true, ListQuery: meta.ListQuery{Page: page(10), Sort: []meta.Order{{Key: "tags"}}}})
	var qe *meta.QueryError
	if !errors.As(err, &qe) || qe.Key != "tags" {
		t.Fatalf("sort=tags: %v, want a QueryError", err)
	}
	// A repository listed with its project's id, whichever project.
	list, _, err = s.AllRepositories(ctx, meta.RepoQuery{All: true, ListQuery: all})
	must(t, err, "AllRepositories")
	for _, r := range list {
		want := map[string]int64{"mine/y": mine.ID, "priv/x": priv.ID, "pub/a": pub.ID, "pub/b/c": pub.ID}[r.Name]
		if r.ProjectID != want {
			t.Errorf("%s: project id %d, want %d", r.Name, r.ProjectID, want)
		}
	}
}

func testRecordPulls(t *testing.T, s LabelStore) {
	ctx := t.Context()
	newProject(t, s, "dev", true)
	a := pushImage(t, s, "dev/app", "a", "v1", "latest")
	b := pushImage(t, s, "dev/app", "b", "v2")
	pushImage(t, s, "dev/web", "c", "v1")
	t1 := time.UnixMilli(time.Now().UnixMilli())
	t2 := t1.Add(time.Minute)
	must(t, s.RecordPulls(ctx, []meta.PullCount{{Repo: "dev/app", N: 3}, {Repo: "dev/gone", N: 2}},
		[]meta.PullTime{{Repo: "dev/app", Digest: a.Digest, Tag: "v1", At: t2}, {Repo: "dev/app", Digest: a.Digest, At: t1},
			{Repo: "dev/app", Digest: b.Digest, Tag: "v1", At: t2}, // v1 does not point at b: no tag time
			{Repo: "dev/gone", Digest: b.Digest, At: t1}}), "RecordPulls")
	must(t, s.RecordPulls(ctx, []meta.PullCount{{Repo: "dev/app", N: 1}, {Repo: "dev/web", N: 5}},
		[]meta.PullTime{{Repo: "dev/app", Digest: a.Digest, Tag: "latest", At: t1}}), "RecordPulls again")
	must(t, s.RecordPulls(ctx, nil, nil), "RecordPulls(nothing)")

	app, err := s.Repository(ctx, "dev/app")
	must(t, err, "Repository")
	equal(t, app.PullCount, int64(4), "dev/app pull count")
	art, err := s.Artifact(ctx, "dev/app", a.Digest)
	must(t, err, "Artifact(a)")
	if !art.PulledAt.Equal(t2) { // t1 came later but is older: the time never moves back
		t.Errorf("a pulled at %v, want %v", art.PulledAt, t2)
	}
	for _, tg := range art.Tags {
		want := map[string]time.Time{"v1": t2, "latest": t1}[tg.Name]
		if !tg.PulledAt.Equal(want) {
			t.Errorf("tag %s pulled at %v, want %v", tg.Name, tg.PulledAt, want)
		}
	}
	artB, err := s.Artifact(ctx, "dev/app", b.Digest)
	must(t, err, "Artifact(b)")
	if !artB.PulledAt.Equal(t2) || !artB.Tags[0].PulledAt.IsZero() {
		t.Errorf("b: %+v", artB)
	}

	hits, err := s.SearchRepositories(ctx, meta.RepoSearch{Name: "dev/app", All: true})
	must(t, err, "SearchRepositories")
	if len(hits) != 1 || hits[0].PullCount != 4 {
		t.Errorf("SearchRepositories: %+v, want dev/app pulled 4 times", hits)
	}

	// pull_count and pull_time are listing keys.
	list, _, err := s.ProjectRepositories(ctx, "dev", meta.ListQuery{Page: page(10), Sort: []meta.Order{{Key: "pull_count", Desc: true}}})
	must(t, err, "ProjectRepositories sort=-pull_count")
	if len(list) != 2 || list[0].Name != "dev/web" || list[0].PullCount != 5 {
		t.Errorf("sort=-pull_count: %+v", list)
	}
	list, _, err = s.AllRepositories(ctx, meta.RepoQuery{ListQuery: meta.ListQuery{Page: page(10),
		Where: []meta.Cond{{Key: "pull_count", Op: meta.Range, Values: []string{"4", ""}}}}})
	must(t, err, "AllRepositories pull_count=[4~]")
	if len(list) != 2 {
		t.Errorf("pull_count=[4~]: %+v", list)
	}
	pushImage(t, s, "dev/app", "never", "v3")
	arts, _, err := s.Artifacts(ctx, "dev/app", meta.ListQuery{Page: page(10), Sort: []meta.Order{{Key: "pull_time"}}})
	must(t, err, "Artifacts sort=pull_time")
	if len(arts) != 3 || !arts[0].PulledAt.IsZero() {
		t.Errorf("sort=pull_time: never pulled first: %+v", arts)
	}
}
