package metatest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// QuotaStore is a store with everything project accounting touches.
type QuotaStore interface {
	meta.Store
	meta.AccessStore
	meta.Catalog
}

// RunQuota is the suite of project storage accounting (meta/quota.go) and
// of meta.QuotaStore. open returns a fresh, empty store (and arranges its
// own cleanup).
func RunQuota(t *testing.T, open func(t *testing.T) QuotaStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s QuotaStore)
	}{
		{"WhatCounts", testQuotaWhatCounts},
		{"ReleaseAndRecharge", testQuotaRelease},
		{"Limit", testQuotaLimit},
		{"LimitOtherPaths", testQuotaLimitOtherPaths},
		{"Quotas", testQuotas},
		{"RandomSequence", testQuotaRandom},
		{"ConcurrentPushers", testQuotaConcurrent},
		{"ConcurrentAtLimit", testQuotaConcurrentLimit},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// checkUsage asserts that project's kept usage, its recount from scratch
// and want agree.
func checkUsage(t *testing.T, s QuotaStore, project string, want int64) {
	t.Helper()
	kept, err := s.ProjectStorageUsed(t.Context(), project)
	must(t, err, "ProjectStorageUsed(%s)", project)
	recount, err := s.RecountProjectUsage(t.Context(), project)
	must(t, err, "RecountProjectUsage(%s)", project)
	if kept != want || recount != want {
		t.Fatalf("project %s: kept usage %d, recount %d, want %d", project, kept, recount, want)
	}
}

func limitedProject(t *testing.T, s QuotaStore, name string, limit int64) *meta.Project {
	t.Helper()
	p := &meta.Project{Name: name}
	must(t, s.CreateProjectWith(t.Context(), p, meta.ProjectChange{StorageLimit: &limit}), "CreateProjectWith(%s)", name)
	return p
}

// imageSize is what pushImage(seed) adds to a project holding none of it.
func imageSize(m *meta.Manifest, seed string) int64 {
	return m.Size + int64(len(`{"seed":"`+seed+`"}`)+len("layer of "+seed))
}

func testQuotaWhatCounts(t *testing.T, s QuotaStore) {
	ctx := t.Context()
	limitedProject(t, s, "p", meta.UnlimitedStorage) // unlimited projects account too
	checkUsage(t, s, "p", 0)
	a := pushImage(t, s, "p/a", "one", "v1")
	one := imageSize(a, "one")
	checkUsage(t, s, "p", one)
	// The same image in another repository of the project counts once; a
	// blob without a manifest counts; other projects do not, nor does a
	// project whose name extends this one's, and each of them counts what
	// it holds itself.
	pushImage(t, s, "p/b/c", "one", "v1")
	loose := commitBlob(t, s, "p/b/c", "loose")
	checkUsage(t, s, "p", one+loose.Size)
	pushImage(t, s, "pp/x", "one")
	checkUsage(t, s, "pp", one)
	checkUsage(t, s, "p", one+loose.Size)
	// A mount into the project of something it holds costs nothing; from
	// another project it is charged.
	_, err := s.MountBlob(ctx, "p/m", "p/b/c", loose.Digest)
	must(t, err, "MountBlob")
	checkUsage(t, s, "p", one+loose.Size)
	other := commitBlob(t, s, "q/x", "from q")
	_, err = s.MountBlob(ctx, "p/m", "q/x", other.Digest)
	must(t, err, "MountBlob")
	checkUsage(t, s, "p", one+loose.Size+other.Size)
	// Committing a linked blob again changes nothing.
	commitBlob(t, s, "p/m", "from q")
	checkUsage(t, s, "p", one+loose.Size+other.Size)
	// A manifest's bytes uploaded as a blob too are one digest.
	_, err = s.MountBlob(ctx, "p/a", "", loose.Digest)
	must(t, err, "MountBlob without from")
	must(t, s.CommitBlob(ctx, "p/a", a.Digest, a.Size, ""), "CommitBlob of the manifest's bytes")
	checkUsage(t, s, "p", one+loose.Size+other.Size)
	// An index counts its own bytes; its children are counted as manifests.
	b := pushImage(t, s, "p/a", "two")
	idx := manifestOf(t, "p/a", indexBody(manifestDesc(a), manifestDesc(b)))
	put(t, s, idx, "multi")
	checkUsage(t, s, "p", one+loose.Size+other.Size+imageSize(b, "two")+idx.Size)
	// Repositories without a project ("" before the first "/") account
	// too, apart.
	commitBlob(t, s, "top", "top level")
	checkUsage(t, s, "", int64(len("top level")))
	p := one + loose.Size + other.Size + imageSize(b, "two") + idx.Size
	checkUsage(t, s, "p", p)
	// The dashboard's storage is the projects' usage added up: what two
	// projects hold counts in both.
	st, err := s.Statistics(ctx, meta.StatisticsQuery{AllPrivate: true, Storage: true})
	must(t, err, "Statistics")
	if want := p + one + other.Size + int64(len("top level")); st.Storage != want {
		t.Fatalf("Statistics storage %d, want %d", st.Storage, want)
	}
}

func testQuotaRelease(t *testing.T, s QuotaStore) {
	ctx := t.Context()
	a := pushImage(t, s, "p/a", "one", "v1")
	one := imageSize(a, "one")
	pushImage(t, s, "p/b", "one", "v1")
	shared := commitBlob(t, s, "p/a", "shared")
	// Deleting the manifest in one repository: the other still holds it.
	must(t, s.DeleteManifest(ctx, "p/a", a.Digest), "DeleteManifest")
	checkUsage(t, s, "p", one+shared.Size)
	// In the last: its bytes and its blobs are released at once, though
	// the links stay readable; a blob no manifest referenced stays.
	must(t, s.DeleteManifest(ctx, "p/b", a.Digest), "DeleteManifest")
	checkUsage(t, s, "p", shared.Size)
	for _, ref := range a.Refs {
		if _, err := s.BlobSize(ctx, "p/b", ref.Digest); err != nil {
			t.Fatalf("released link of %s: %v", ref.Digest, err)
		}
	}
	// The same manifest pushed again over the released links charges
	// them again, without an upload.
	put(t, s, a) // into p/a
	checkUsage(t, s, "p", one+shared.Size)
	// Two manifests of a repository sharing a layer: deleting one keeps
	// the layer.
	cfg2 := commitBlob(t, s, "p/a", "config two")
	m2 := manifestOf(t, "p/a", imageBody(cfg2, []oci.Ref{a.Refs[1]}, nil))
	put(t, s, m2)
	must(t, s.DeleteManifest(ctx, "p/a", a.Digest), "DeleteManifest")
	kept := shared.Size + m2.Size + cfg2.Size + a.Refs[1].Size
	checkUsage(t, s, "p", kept)
	// Committing a released link again charges it again.
	must(t, s.CommitBlob(ctx, "p/b", a.Refs[0].Digest, a.Refs[0].Size, ""), "CommitBlob")
	checkUsage(t, s, "p", kept+a.Refs[0].Size)
	// Unlinking a charged link releases it; a released one has nothing
	// left to release.
	must(t, s.UnlinkBlob(ctx, "p/b", a.Refs[0].Digest), "UnlinkBlob")
	checkUsage(t, s, "p", kept)
	c := pushImage(t, s, "p/c", "three")
	must(t, s.DeleteManifest(ctx, "p/c", c.Digest), "DeleteManifest")
	must(t, s.UnlinkBlob(ctx, "p/c", c.Refs[0].Digest), "UnlinkBlob")
	checkUsage(t, s, "p", kept)
	// Deleting a repository releases all it holds.
	must(t, s.DeleteRepository(ctx, "p/b"), "DeleteRepository")
	checkUsage(t, s, "p", kept)
	must(t, s.DeleteRepository(ctx, "p/a"), "DeleteRepository")
	checkUsage(t, s, "p", 0)
	must(t, s.DeleteRepository(ctx, "p/c"), "DeleteRepository")
	checkUsage(t, s, "p", 0)
	// A copy charges the destination's project.
	x := pushImage(t, s, "q/x", "four", "v4")
	_, err := s.CopyArtifact(ctx, "q/x", "p/y", x.Digest)
	must(t, err, "CopyArtifact")
	checkUsage(t, s, "p", imageSize(x, "four"))
	checkUsage(t, s, "q", imageSize(x, "four"))
}

// exceeded asserts err is a *meta.QuotaExceededError with these numbers.
func exceeded(t *testing.T, err error, adding, used, limit int64) {
	t.Helper()
	var e *meta.QuotaExceededError
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *meta.QuotaExceededError", err)
	}
	if e.Adding != adding || e.Used != used || e.Limit != limit {
		t.Fatalf("exceeded: adding %d to %d of %d, want %d to %d of %d", e.Adding, e.Used, e.Limit, adding, used, limit)
	}
}

func testQuotaLimit(t *testing.T, s QuotaStore) {
	ctx := t.Context()
	p := limitedProject(t, s, "p", 100)
	blob := func(n int, c byte) (digest.Digest, int64) {
		b := slices.Repeat([]byte{c}, n)
		return digest.FromBytes(b), int64(n)
	}
	d60, n60 := blob(60, 'a')
	must(t, s.CheckQuota(ctx, "p/a", d60, n60), "CheckQuota")
	must(t, s.CommitBlob(ctx, "p/a", d60, n60, ""), "CommitBlob 60")
	d50, n50 := blob(50, 'b')
	exceeded(t, s.CheckQuota(ctx, "p/a", d50, n50), 50, 60, 100)
	// Refused: nothing recorded, the upload session is kept.
	must(t, s.CreateUpload(ctx, meta.Upload{ID: "u1", Repo: "p/a"}), "CreateUpload")
	exceeded(t, s.CommitBlob(ctx, "p/a", d50, n50, "u1"), 50, 60, 100)
	checkUsage(t, s, "p", 60)
	if _, err := s.BlobSize(ctx, "p/a", d50); !errors.Is(err, meta.ErrBlobNotFound) {
		t.Fatalf("refused blob: BlobSize err = %v", err)
	}
	if ok, err := s.UploadExists(ctx, "u1"); err != nil || !ok {
		t.Fatalf("refused commit's upload: exists %v, %v", ok, err)
	}
	// Up to the limit exactly is allowed; what the project holds is free.
	d40, n40 := blob(40, 'c')
	must(t, s.CommitBlob(ctx, "p/a", d40, n40, "u1"), "CommitBlob 40")
	checkUsage(t, s, "p", 100)
	must(t, s.CheckQuota(ctx, "p/b", d40, n40), "CheckQuota of a held blob")
	must(t, s.CommitBlob(ctx, "p/b", d40, n40, ""), "CommitBlob of a held blob")
	must(t, s.CheckQuota(ctx, "p/b", "", 0), "CheckQuota at the limit")
	d1, n1 := blob(1, 'd')
	exceeded(t, s.CheckQuota(ctx, "p/b", d1, n1), 1, 100, 100)
	// A manifest past the limit is refused, and stores nothing.
	m := manifestOf(t, "p/a", imageBody(oci.Ref{Digest: d60, Size: n60}, []oci.Ref{{Digest: d40, Size: n40}}, nil))
	exceeded(t, s.PutManifest(ctx, m, []string{"v1"}), m.Size, 100, 100)
	noManifest(t, s, "p/a", "v1")
	noManifest(t, s, "p/a", string(m.Digest))
	checkUsage(t, s, "p", 100)
	// A lower limit than the usage: deletes still work, charges do not.
	must(t, s.SetStorageLimit(ctx, p.ID, 50), "SetStorageLimit")
	exceeded(t, s.CheckQuota(ctx, "p/b", "", 0), 0, 100, 50)
	must(t, s.UnlinkBlob(ctx, "p/a", d60), "UnlinkBlob")
	checkUsage(t, s, "p", 40)
	must(t, s.SetStorageLimit(ctx, p.ID, meta.UnlimitedStorage), "SetStorageLimit")
	put(t, s, manifestOf(t, "p/b", imageBody(oci.Ref{Digest: d40, Size: n40}, nil, nil)))
	must(t, s.CommitBlob(ctx, "p/b", d50, n50, ""), "CommitBlob unlimited")
}

func testQuotaLimitOtherPaths(t *testing.T, s QuotaStore) {
	ctx := t.Context()
	src := pushImage(t, s, "q/src", "one", "v1")
	one := imageSize(src, "one")
	limitedProject(t, s, "p", one-1)
	// A mount past the limit is refused.
	_, err := s.MountBlob(ctx, "p/a", "q/src", src.Refs[0].Digest)
	must(t, err, "MountBlob within the limit")
	_, err = s.MountBlob(ctx, "p/a", "q/src", src.Refs[1].Digest)
	must(t, err, "MountBlob within the limit")
	checkUsage(t, s, "p", one-src.Size)
	// The manifest would pass it: refused, as a copy of the whole image.
	m := *src
	m.Repo = "p/a"
	exceeded(t, s.PutManifest(ctx, &m, nil), src.Size, one-src.Size, one-1)
	_, err = s.CopyArtifact(ctx, "q/src", "p/b", src.Digest)
	exceeded(t, err, src.Size, one-src.Size, one-1)
	noManifest(t, s, "p/b", string(src.Digest))
	checkUsage(t, s, "p", one-src.Size)
	other := commitBlob(t, s, "q/src", strings.Repeat("x", int(src.Size)))
	_, err = s.MountBlob(ctx, "p/a", "q/src", other.Digest)
	exceeded(t, err, other.Size, one-src.Size, one-1)
	checkUsage(t, s, "p", one-src.Size)
}

func testQuotas(t *testing.T, s QuotaStore) {
	ctx := t.Context()
	owner := &meta.User{Username: "owner", PasswordHash: "x"}
	must(t, s.CreateUser(ctx, owner), "CreateUser")
	a := &meta.Project{Name: "a", OwnerID: owner.ID}
	must(t, s.CreateProjectWith(ctx, a, meta.ProjectChange{StorageLimit: ptr(int64(1000))}), "CreateProjectWith")
	b := &meta.Project{Name: "b"}
	must(t, s.CreateProject(ctx, b), "CreateProject") // no limit row: unlimited
	c := limitedProject(t, s, "c", 10)
	img := pushImage(t, s, "a/x", "one")
	commitBlob(t, s, "b/x", "0123456789")
	q, err := s.Quota(ctx, a.ID)
	must(t, err, "Quota")
	if q.ProjectID != a.ID || q.Project != "a" || q.OwnerName != "owner" || q.Limit != 1000 || q.Used != imageSize(img, "one") ||
		q.CreatedAt.IsZero() || q.UpdatedAt.Before(q.CreatedAt) {
		t.Fatalf("Quota(a) = %+v", q)
	}
	if q, err := s.Quota(ctx, b.ID); err != nil || q.Limit != meta.UnlimitedStorage || q.Used != 10 || q.OwnerName != "" {
		t.Fatalf("Quota(b) = %+v, %v", q, err)
	}
	if _, err := s.Quota(ctx, 9999); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Quota(9999) err = %v", err)
	}
	isErr(t, s.SetStorageLimit(ctx, 9999, 5), meta.ErrNotFound)
	must(t, s.SetStorageLimit(ctx, b.ID, 5), "SetStorageLimit")
	if q, _ := s.Quota(ctx, b.ID); q.Limit != 5 || q.Used != 10 {
		t.Fatalf("after SetStorageLimit: %+v", q)
	}
	names := func(lq meta.ListQuery) ([]string, int64) {
		t.Helper()
		qs, total, err := s.Quotas(ctx, lq)
		must(t, err, "Quotas(%+v)", lq)
		var out []string
		for _, q := range qs {
			out = append(out, q.Project)
		}
		return out, total
	}
	page := meta.Page{Page: 1, Size: 10}
	for _, tc := range []struct {
		lq   meta.ListQuery
		want []string
	}{
		{meta.ListQuery{Page: page}, []string{"c", "b", "a"}}, // newest first
		{meta.ListQuery{Page: page, Sort: []meta.Order{{Key: "hard.storage"}}}, []string{"b", "c", "a"}},
		{meta.ListQuery{Page: page, Sort: []meta.Order{{Key: "used.storage", Desc: true}}}, []string{"a", "b", "c"}},
		{meta.ListQuery{Page: page, Sort: []meta.Order{{Key: "creation_time", Desc: true}}}, []string{"c", "b", "a"}},
		{meta.ListQuery{Page: page, Where: []meta.Cond{{Key: "reference_id", Values: []string{itoa(c.ID)}}}}, []string{"c"}},
		{meta.ListQuery{Page: page, Where: []meta.Cond{{Key: "reference_id", Op: meta.AnyOf, Values: []string{itoa(a.ID), itoa(b.ID)}}}}, []string{"b", "a"}},
		{meta.ListQuery{Page: meta.Page{Page: 2, Size: 2}}, []string{"a"}},
	} {
		got, total := names(tc.lq)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Quotas(%+v) = %v, want %v", tc.lq, got, tc.want)
		}
		if tc.lq.Where == nil && total != 3 {
			t.Errorf("Quotas(%+v) total = %d, want 3", tc.lq, total)
		}
	}
	// Unlimited sorts as the largest, descending too.
	must(t, s.SetStorageLimit(ctx, c.ID, meta.UnlimitedStorage), "SetStorageLimit")
	if got, _ := names(meta.ListQuery{Page: page, Sort: []meta.Order{{Key: "hard.storage", Desc: true}}}); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("by -hard.storage: %v", got)
	}
	for _, lq := range []meta.ListQuery{
		{Page: page, Where: []meta.Cond{{Key: "name", Values: []string{"a"}}}},
		{Page: page, Sort: []meta.Order{{Key: "hard.count"}}},
		{Page: page, Where: []meta.Cond{{Key: "reference_id", Values: []string{"x"}}}},
	} {
		var qe *meta.QueryError
		if _, _, err := s.Quotas(ctx, lq); !errors.As(err, &qe) {
			t.Errorf("Quotas(%+v) err = %v, want a *meta.QueryError", lq, err)
		}
	}
	// A deleted project's quota goes with it.
	must(t, s.DeleteProject(ctx, c.ID), "DeleteProject")
	if _, err := s.Quota(ctx, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleted project's Quota err = %v", err)
	}
}
