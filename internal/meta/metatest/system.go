package metatest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// SystemStore is what the system suite needs: a store that keeps content,
// access and settings, as every SQL store does.
type SystemStore interface {
	meta.Store
	meta.AccessStore
	meta.Catalog
	meta.SettingStore
}

// RunSystem is the suite for meta.SystemStore and meta.SettingStore. open
// returns a fresh, empty store (and arranges its own cleanup).
func RunSystem(t *testing.T, open func(t *testing.T) SystemStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s SystemStore)
	}{
		{"Statistics", testStatistics},
		{"SearchRepositories", testSearchRepositories},
		{"Settings", testSettings},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// systemFixture: projects whose names are prefixes of each other's (ab,
// ab-c, ab.c: a repository of one must never count for another), public
// and private, alice a member of ab-c and of priv only.
func systemFixture(t *testing.T, s SystemStore) (alice int64) {
	ctx := context.Background()
	u := &meta.User{Username: "alice", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, u))
	for _, p := range []struct {
		name   string
		public bool
		repos  []string
		member bool
	}{
		{"ab", true, []string{"ab/x", "ab/y/z"}, false},
		{"ab-c", false, []string{"ab-c/Web"}, true},
		{"ab.c", false, []string{"ab.c/web", "ab.c/db", "ab.c/cache"}, false},
		{"empty", true, nil, false},
		{"priv", false, nil, true},
	} {
		pr := &meta.Project{Name: p.name, Public: p.public}
		noErr(t, s.CreateProject(ctx, pr))
		if p.member {
			noErr(t, s.SetMember(ctx, pr.ID, u.ID, 2))
		}
		for _, r := range p.repos {
			commitBlob(t, s, r, "layer of "+r)
		}
	}
	return u.ID
}

func testStatistics(t *testing.T, s SystemStore) {
	ctx := context.Background()
	st, err := s.Statistics(ctx, meta.StatisticsQuery{AllPrivate: true, Storage: true})
	noErr(t, err)
	equal(t, st, meta.Statistics{}, "Statistics of an empty store")

	alice := systemFixture(t, s)
	// A repository outside any project (pushed with --auth=false) counts
	// for none.
	commitBlob(t, s, "loose/repo", "loose")
	for _, tc := range []struct {
		q    meta.StatisticsQuery
		want meta.Statistics
	}{
		{meta.StatisticsQuery{AllPrivate: true}, meta.Statistics{PublicProjects: 2, PublicRepos: 2, PrivateProjects: 3, PrivateRepos: 4}},
		{meta.StatisticsQuery{MemberOf: alice}, meta.Statistics{PublicProjects: 2, PublicRepos: 2, PrivateProjects: 2, PrivateRepos: 1}},
		{meta.StatisticsQuery{}, meta.Statistics{PublicProjects: 2, PublicRepos: 2}},
		{meta.StatisticsQuery{MemberOf: 9999}, meta.Statistics{PublicProjects: 2, PublicRepos: 2}},
	} {
		got, err := s.Statistics(ctx, tc.q)
		noErr(t, err)
		equal(t, got, tc.want, "Statistics(%+v)", tc.q)
	}

	// Storage: what the projects use, each blob and manifest once per
	// project (linked in two repositories of a project, it counts once).
	cfg := commitBlob(t, s, "ab/x", "config")
	commitBlob(t, s, "ab/y/z", "config")
	layer := commitBlob(t, s, "ab/x", "layer of ab/x")
	commitBlob(t, s, "ab/y/z", "layer of ab/x")
	m := manifestOf(t, "ab/x", imageBody(cfg, []oci.Ref{layer}, nil))
	must(t, s.PutManifest(ctx, m, []string{"v1"}), "PutManifest")
	m2 := manifestOf(t, "ab/y/z", imageBody(cfg, []oci.Ref{layer}, nil))
	must(t, s.PutManifest(ctx, m2, nil), "PutManifest in another repository")
	var blobs int64
	for _, c := range []string{"layer of ab/x", "layer of ab/y/z", "layer of ab-c/Web", "layer of ab.c/web",
		"layer of ab.c/db", "layer of ab.c/cache", "loose", "config"} {
		blobs += int64(len(c))
	}
	st, err = s.Statistics(ctx, meta.StatisticsQuery{AllPrivate: true, Storage: true})
	noErr(t, err)
	if want := blobs + m.Size; st.Storage != want {
		t.Fatalf("Storage = %d, want %d (blobs %d + one manifest %d)", st.Storage, want, blobs, m.Size)
	}
	if st, _ := s.Statistics(ctx, meta.StatisticsQuery{AllPrivate: true}); st.Storage != 0 {
		t.Fatalf("Storage not asked for: %d", st.Storage)
	}
}

func testSearchRepositories(t *testing.T, s SystemStore) {
	ctx := context.Background()
	alice := systemFixture(t, s)
	commitBlob(t, s, "loose/web", "loose")
	cfg := commitBlob(t, s, "ab.c/web", "config")
	for _, tag := range []string{"v1", "v2"} {
		layer := commitBlob(t, s, "ab.c/web", "layer "+tag)
		must(t, s.PutManifest(ctx, manifestOf(t, "ab.c/web", imageBody(cfg, []oci.Ref{layer}, nil)), []string{tag}), "PutManifest")
	}
	names := func(q meta.RepoSearch) []string {
		t.Helper()
		hits, err := s.SearchRepositories(ctx, q)
		noErr(t, err)
		out := []string{}
		for _, h := range hits {
			out = append(out, h.Name)
		}
		return out
	}
	for _, tc := range []struct {
		q    meta.RepoSearch
		want []string
	}{
		{meta.RepoSearch{Name: "WEB", All: true}, []string{"ab-c/Web", "ab.c/web"}},
		{meta.RepoSearch{Name: "web", VisibleTo: alice}, []string{"ab-c/Web"}},
		{meta.RepoSearch{Name: "web"}, []string{}},
		{meta.RepoSearch{Name: "", VisibleTo: alice}, []string{"ab-c/Web", "ab/x", "ab/y/z"}},
		{meta.RepoSearch{Name: "", All: true, Limit: 2}, []string{"ab-c/Web", "ab.c/cache"}},
		{meta.RepoSearch{Name: "ab/", All: true}, []string{"ab/x", "ab/y/z"}},
		{meta.RepoSearch{Name: "_", All: true}, []string{}},
		{meta.RepoSearch{Name: "%", All: true}, []string{}},
	} {
		if got := names(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("SearchRepositories(%+v) = %q, want %q", tc.q, got, tc.want)
		}
	}
	hits, err := s.SearchRepositories(ctx, meta.RepoSearch{Name: "ab.c/web", All: true})
	noErr(t, err)
	p, err := s.GetProjectByName(ctx, "ab.c")
	noErr(t, err)
	want := []meta.RepoHit{{ProjectID: p.ID, Project: "ab.c", Public: false, Name: "ab.c/web", ArtifactCount: 2}}
	equal(t, hits, want, "SearchRepositories(ab.c/web)")
	hits, err = s.SearchRepositories(ctx, meta.RepoSearch{Name: "ab/x"})
	noErr(t, err)
	if len(hits) != 1 || !hits[0].Public || hits[0].Project != "ab" || hits[0].ArtifactCount != 0 {
		t.Fatalf("SearchRepositories(ab/x) = %+v", hits)
	}
}

func testSettings(t *testing.T, s SystemStore) {
	ctx := context.Background()
	got, err := s.Settings(ctx)
	noErr(t, err)
	equal(t, got, map[string]string{}, "Settings of an empty store")
	noErr(t, s.PutSettings(ctx, map[string]string{"read_only": "true", "banner_message": `"hello"`}))
	noErr(t, s.PutSettings(ctx, map[string]string{"read_only": "false"}))
	noErr(t, s.PutSettings(ctx, map[string]string{}))
	got, err = s.Settings(ctx)
	noErr(t, err)
	equal(t, got, map[string]string{"read_only": "false", "banner_message": `"hello"`}, "Settings")

	// Writers racing on the same settings in different orders all succeed
	// (one order of upserts: no deadlock).
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			vals := map[string]string{"a": "1", "b": "2", "c": "3"}
			vals[string(rune('a'+i%3))] = "0"
			errs <- s.PutSettings(ctx, vals)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, err)
	}
	got, err = s.Settings(ctx)
	noErr(t, err)
	if len(got) != 5 {
		t.Fatalf("Settings after racing writers: %v", got)
	}
}
