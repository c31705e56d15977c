package metatest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// FullStore is a store with both halves, for the suites that need
// repositories and projects together.
type FullStore interface {
	meta.Store
	meta.AccessStore
}

// RunProjectSettings is the suite for meta.ProjectSettingsStore. open
// returns a fresh, empty store (and arranges its own cleanup).
func RunProjectSettings(t *testing.T, open func(t *testing.T) FullStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s FullStore)
	}{
		{"CreateAndRead", testSettingsCreate},
		{"Change", testSettingsChange},
		{"GoWithProject", testSettingsGoWithProject},
		{"MemberCounts", testMemberCounts},
		{"StorageUsed", testStorageUsed},
		{"ProjectArtifacts", testProjectArtifacts},
		{"ProjectArtifactsLatest", testProjectArtifactsLatest},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func ptr[T any](v T) *T { return &v }

func settingsOf(t *testing.T, s FullStore, id int64) *meta.ProjectSettings {
	t.Helper()
	all, err := s.ProjectSettings(t.Context(), id)
	noErr(t, err)
	ps := all[id]
	if ps == nil {
		t.Fatalf("ProjectSettings(%d): missing", id)
	}
	return ps
}

func testSettingsCreate(t *testing.T, s FullStore) {
	ctx := t.Context()
	owner := &meta.User{Username: "owner", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, owner))
	p := &meta.Project{Name: "with", OwnerID: owner.ID}
	noErr(t, s.CreateProjectWith(ctx, p, meta.ProjectChange{
		Public:       ptr(true),
		Metadata:     map[string]string{"auto_scan": "true", "severity": "high"},
		CVEAllowlist: &meta.CVEAllowlist{ExpiresAt: ptr(int64(1900000000)), Items: []string{"CVE-2024-1", "CVE-2024-2"}},
		StorageLimit: ptr(int64(1 << 30)),
	}))
	if p.ID == 0 || !p.Public {
		t.Fatalf("CreateProjectWith: %+v", p)
	}
	if role, err := s.MemberRole(ctx, p.ID, owner.ID); err != nil || role != 1 {
		t.Fatalf("the owner must be project admin: %d %v", role, err)
	}
	if got, err := s.GetProject(ctx, p.ID); err != nil || !got.Public {
		t.Fatalf("GetProject: %+v %v", got, err)
	}
	plain := &meta.Project{Name: "plain", OwnerID: owner.ID}
	noErr(t, s.CreateProject(ctx, plain))
	isErr(t, s.CreateProjectWith(ctx, &meta.Project{Name: "with"}, meta.ProjectChange{}), meta.ErrConflict)

	all, err := s.ProjectSettings(ctx, p.ID, plain.ID, 1<<40)
	noErr(t, err)
	if len(all) != 2 {
		t.Fatalf("ProjectSettings: %d projects, want 2 (an unknown id has none)", len(all))
	}
	ps := all[p.ID]
	equal(t, ps.Metadata, map[string]string{"auto_scan": "true", "severity": "high"}, "metadata")
	equal(t, ps.StorageLimit, int64(1<<30), "storage limit")
	l := ps.CVEAllowlist
	if l.ID == 0 || l.ProjectID != p.ID || l.ExpiresAt == nil || *l.ExpiresAt != 1900000000 || l.CreatedAt.IsZero() {
		t.Fatalf("allowlist: %+v", l)
	}
	equal(t, l.Items, []string{"CVE-2024-1", "CVE-2024-2"}, "allowlist items")
	def := all[plain.ID]
	equal(t, def.Metadata, map[string]string{}, "default metadata")
	equal(t, def.StorageLimit, int64(meta.UnlimitedStorage), "default storage limit")
	if d := def.CVEAllowlist; d.ID != 0 || d.ProjectID != plain.ID || d.ExpiresAt != nil || d.Items == nil || len(d.Items) != 0 {
		t.Fatalf("default allowlist: %+v", d)
	}
	if all, err := s.ProjectSettings(ctx); err != nil || len(all) != 0 {
		t.Fatalf("ProjectSettings(): %v %v", all, err)
	}
}

func testSettingsChange(t *testing.T, s FullStore) {
	ctx := t.Context()
	p := &meta.Project{Name: "p"}
	noErr(t, s.CreateProject(ctx, p))
	before, err := s.GetProject(ctx, p.ID)
	noErr(t, err)

	noErr(t, s.ChangeProject(ctx, p.ID, meta.ProjectChange{Public: ptr(true), Metadata: map[string]string{"auto_scan": "true"}}))
	got, err := s.GetProject(ctx, p.ID)
	noErr(t, err)
	if !got.Public || got.UpdatedAt.Before(before.UpdatedAt) {
		t.Fatalf("after ChangeProject: %+v", got)
	}
	// Upsert by default; AddOnly refuses an existing key and writes
	// nothing of that change.
	noErr(t, s.ChangeProject(ctx, p.ID, meta.ProjectChange{Metadata: map[string]string{"auto_scan": "false", "prevent_vul": "true"}}))
	isErr(t, s.ChangeProject(ctx, p.ID, meta.ProjectChange{AddOnly: true, Public: ptr(false),
		Metadata: map[string]string{"auto_scan": "true", "severity": "low"}}), meta.ErrConflict)
	noErr(t, s.ChangeProject(ctx, p.ID, meta.ProjectChange{AddOnly: true, Metadata: map[string]string{"severity": "low"}}))
	equal(t, settingsOf(t, s, p.ID).Metadata, map[string]string{"auto_scan": "false", "prevent_vul": "true", "severity": "low"}, "metadata")
	if got, _ := s.GetProject(ctx, p.ID); !got.Public {
		t.Fatal("a refused change was partly applied")
	}
	// "public" is the column, never a row.
	if err := s.ChangeProject(ctx, p.ID, meta.ProjectChange{Metadata: map[string]string{"public": "false"}}); err == nil {
		t.Fatal(`ChangeProject accepted metadata "public"`)
	}

	// The allowlist and the limit are replaced; an empty list stays a list.
	noErr(t, s.ChangeProject(ctx, p.ID, meta.ProjectChange{CVEAllowlist: &meta.CVEAllowlist{Items: []string{"CVE-1"}}, StorageLimit: ptr(int64(10))}))
	first := settingsOf(t, s, p.ID).CVEAllowlist
	noErr(t, s.ChangeProject(ctx, p.ID, meta.ProjectChange{CVEAllowlist: &meta.CVEAllowlist{ExpiresAt: ptr(int64(5))}, StorageLimit: ptr(int64(-1))}))
	ps := settingsOf(t, s, p.ID)
	if l := ps.CVEAllowlist; l.ID != first.ID || l.Items == nil || len(l.Items) != 0 || l.ExpiresAt == nil || *l.ExpiresAt != 5 ||
		!l.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("replaced allowlist: %+v (first %+v)", l, first)
	}
	equal(t, ps.StorageLimit, int64(-1), "storage limit")

	noErr(t, s.DeleteProjectMetadata(ctx, p.ID, "severity"))
	isErr(t, s.DeleteProjectMetadata(ctx, p.ID, "severity"), meta.ErrNotFound)
	isErr(t, s.DeleteProjectMetadata(ctx, p.ID+1000, "auto_scan"), meta.ErrNotFound)
	equal(t, settingsOf(t, s, p.ID).Metadata, map[string]string{"auto_scan": "false", "prevent_vul": "true"}, "metadata after delete")
	isErr(t, s.ChangeProject(ctx, p.ID+1000, meta.ProjectChange{Metadata: map[string]string{"auto_scan": "true"}}), meta.ErrNotFound)
}

func testSettingsGoWithProject(t *testing.T, s FullStore) {
	ctx := t.Context()
	p := &meta.Project{Name: "gone"}
	noErr(t, s.CreateProjectWith(ctx, p, meta.ProjectChange{Metadata: map[string]string{"auto_scan": "true"},
		CVEAllowlist: &meta.CVEAllowlist{Items: []string{"CVE-1"}}, StorageLimit: ptr(int64(7))}))
	noErr(t, s.DeleteProject(ctx, p.ID))
	if all, err := s.ProjectSettings(ctx, p.ID); err != nil || len(all) != 0 {
		t.Fatalf("settings of a deleted project: %v %v", all, err)
	}
	// A project of the same name starts with defaults.
	again := &meta.Project{Name: "gone"}
	noErr(t, s.CreateProject(ctx, again))
	ps := settingsOf(t, s, again.ID)
	if len(ps.Metadata) != 0 || len(ps.CVEAllowlist.Items) != 0 || ps.CVEAllowlist.ID != 0 || ps.StorageLimit != meta.UnlimitedStorage {
		t.Fatalf("a new namesake inherited settings: %+v", ps)
	}
}

func testMemberCounts(t *testing.T, s FullStore) {
	ctx := t.Context()
	var ids []int64
	for _, name := range []string{"a", "b", "c", "d"} {
		u := &meta.User{Username: name, PasswordHash: "x"}
		noErr(t, s.CreateUser(ctx, u))
		ids = append(ids, u.ID)
	}
	p := &meta.Project{Name: "team", OwnerID: ids[0]}
	noErr(t, s.CreateProject(ctx, p))
	other := &meta.Project{Name: "other", OwnerID: ids[1]}
	noErr(t, s.CreateProject(ctx, other))
	noErr(t, s.SetMember(ctx, p.ID, ids[1], 2))
	noErr(t, s.SetMember(ctx, p.ID, ids[2], 2))
	noErr(t, s.SetMember(ctx, p.ID, ids[3], 5))
	got, err := s.ProjectMemberCounts(ctx, p.ID)
	noErr(t, err)
	equal(t, got, map[int]int64{1: 1, 2: 2, 5: 1}, "member counts")
	got, err = s.ProjectMemberCounts(ctx, 1<<40)
	noErr(t, err)
	equal(t, got, map[int]int64{}, "member counts of no project")
}

func testStorageUsed(t *testing.T, s FullStore) {
	ctx := t.Context()
	used := func(project string) int64 {
		t.Helper()
		n, err := s.ProjectStorageUsed(ctx, project)
		noErr(t, err)
		return n
	}
	if n := used("p"); n != 0 {
		t.Fatalf("empty project uses %d", n)
	}
	a := pushImage(t, s, "p/a", "one", "v1")
	size := a.Size + int64(len(`{"seed":"one"}`)+len("layer of one"))
	if n := used("p"); n != size {
		t.Fatalf("one image: %d, want %d", n, size)
	}
	// The same image in another repository of the project counts once; a
	// blob pushed without a manifest counts; other projects do not, nor
	// does a project whose name extends this one's.
	pushImage(t, s, "p/b/c", "one", "v1")
	commitBlob(t, s, "p/b/c", "loose")
	pushImage(t, s, "p0/x", "two")
	pushImage(t, s, "pp/x", "three")
	if n := used("p"); n != size+int64(len("loose")) {
		t.Fatalf("two repositories: %d, want %d", n, size+int64(len("loose")))
	}
	if n := used("pp"); n == 0 || n == used("p") {
		t.Fatalf("pp uses %d", n)
	}
}

func testProjectArtifacts(t *testing.T, s FullStore) {
	ctx := t.Context()
	list := func(q meta.ProjectArtifactQuery) ([]meta.ProjectArtifact, int64) {
		t.Helper()
		if q.Page.Size == 0 {
			q.Page = meta.Page{Page: 1, Size: 10}
		}
		arts, total, err := s.ProjectArtifacts(ctx, "p", q)
		noErr(t, err)
		return arts, total
	}
	one := pushImage(t, s, "p/a", "one", "v1", "latest")
	pushImage(t, s, "p/b", "one", "b1") // the same digest, another repository, its own tags
	two := pushImage(t, s, "p/a", "two")
	// An index and its child: only the index is top-level.
	child := pushImage(t, s, "p/idx", "child")
	idx := manifestOf(t, "p/idx", indexBody(manifestDesc(child)))
	put(t, s, idx, "multi")
	pushImage(t, s, "p0/a", "outside", "v1")
	pushImage(t, s, "pp/a", "outside too")

	arts, total := list(meta.ProjectArtifactQuery{})
	if total != 4 || len(arts) != 4 {
		t.Fatalf("ProjectArtifacts: %d (%d), want 4: %+v", total, len(arts), arts)
	}
	byRepo := map[string][]meta.ProjectArtifact{}
	for _, a := range arts {
		byRepo[a.Repo] = append(byRepo[a.Repo], a)
	}
	if len(byRepo["p/a"]) != 2 || len(byRepo["p/b"]) != 1 || len(byRepo["p/idx"]) != 1 || byRepo["p/idx"][0].Digest != idx.Digest {
		t.Fatalf("artifacts by repository: %+v", byRepo)
	}
	tagNames := func(a meta.ProjectArtifact) []string {
		var out []string
		for _, tg := range a.Tags {
			out = append(out, tg.Name)
		}
		return out
	}
	for _, a := range byRepo["p/a"] {
		switch a.Digest {
		case one.Digest:
			equal(t, tagNames(a), []string{"latest", "v1"}, "tags of p/a@one")
		case two.Digest:
			if a.Tags == nil || len(a.Tags) != 0 {
				t.Fatalf("untagged artifact: tags %#v", a.Tags)
			}
		default:
			t.Fatalf("unexpected artifact %s", a.Digest)
		}
	}
	equal(t, tagNames(byRepo["p/b"][0]), []string{"b1"}, "tags of p/b@one")
	if a := byRepo["p/b"][0]; a.Size != one.Size+int64(len(`{"seed":"one"}`)+len("layer of one")) ||
		a.MediaType != oci.MediaTypeImageManifest || a.PushedAt.IsZero() {
		t.Fatalf("artifact fields: %+v", a)
	}

	// Keys: the artifact listing's and repository_name; paging is stable.
	arts, total = list(meta.ProjectArtifactQuery{ListQuery: meta.ListQuery{
		Where: []meta.Cond{{Key: "repository_name", Op: meta.Equal, Values: []string{"p/a"}}}}})
	if total != 2 || len(arts) != 2 || arts[0].Repo != "p/a" {
		t.Fatalf("repository_name=p/a: %d %+v", total, arts)
	}
	arts, total = list(meta.ProjectArtifactQuery{ListQuery: meta.ListQuery{
		Where: []meta.Cond{{Key: "tags", Op: meta.Equal, Values: []string{"*"}}},
		Sort:  []meta.Order{{Key: "repository_name", Desc: true}}}})
	if total != 3 || arts[0].Repo != "p/idx" || arts[2].Repo != "p/a" {
		t.Fatalf("tagged, by repository_name descending: %d %+v", total, arts)
	}
	var seen []string
	for page := 1; page <= 4; page++ {
		arts, total = list(meta.ProjectArtifactQuery{ListQuery: meta.ListQuery{Page: meta.Page{Page: page, Size: 1}}})
		if total != 4 || len(arts) != 1 {
			t.Fatalf("page %d: %d %+v", page, total, arts)
		}
		seen = append(seen, arts[0].Repo+"@"+string(arts[0].Digest))
	}
	if slices.Sort(seen); len(slices.Compact(seen)) != 4 {
		t.Fatalf("pages repeat artifacts: %v", seen)
	}
	_, _, err := s.ProjectArtifacts(ctx, "p", meta.ProjectArtifactQuery{ListQuery: meta.ListQuery{
		Page: meta.Page{Page: 1, Size: 10}, Where: []meta.Cond{{Key: "nope", Values: []string{"x"}}}}})
	if qe := (*meta.QueryError)(nil); !errors.As(err, &qe) || qe.Key != "nope" {
		t.Fatalf("unknown key: %v", err)
	}

	// Without tags: Tags is nil, not read.
	arts, _ = list(meta.ProjectArtifactQuery{WithoutTags: true})
	for _, a := range arts {
		if a.Tags != nil {
			t.Fatalf("WithoutTags: %+v", a)
		}
	}
	if arts, total, err := s.ProjectArtifacts(ctx, "nothing", meta.ProjectArtifactQuery{ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}}); err != nil || total != 0 || arts == nil || len(arts) != 0 {
		t.Fatalf("empty project: %v %d %v", arts, total, err)
	}
}

func testProjectArtifactsLatest(t *testing.T, s FullStore) {
	ctx := t.Context()
	pushImage(t, s, "p/a", "old")
	time.Sleep(2 * time.Millisecond) // push times are in milliseconds
	newest := pushImage(t, s, "p/a", "new")
	time.Sleep(2 * time.Millisecond) // push times are in milliseconds
	b := pushImage(t, s, "p/b", "only")
	isImage := meta.Cond{Key: "media_type", Values: []string{oci.MediaTypeImageManifest}}
	arts, total, err := s.ProjectArtifacts(ctx, "p", meta.ProjectArtifactQuery{LatestInRepository: true,
		ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}, Where: []meta.Cond{isImage}}})
	noErr(t, err)
	if total != 2 || len(arts) != 2 || arts[0].Digest != b.Digest || arts[1].Digest != newest.Digest || len(arts[1].Tags) != 0 {
		t.Fatalf("latest in repository: %d %+v", total, arts)
	}
	// Paging applies to the latest ones.
	arts, total, err = s.ProjectArtifacts(ctx, "p", meta.ProjectArtifactQuery{LatestInRepository: true,
		ListQuery: meta.ListQuery{Page: meta.Page{Page: 2, Size: 1}, Where: []meta.Cond{isImage}}})
	noErr(t, err)
	if total != 2 || len(arts) != 1 || arts[0].Repo != "p/a" {
		t.Fatalf("latest, page 2: %d %+v", total, arts)
	}
}
