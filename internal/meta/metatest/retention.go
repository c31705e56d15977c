package metatest

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// RetentionStore is what the retention suite needs: the policies, the
// registry's writes to push artifacts, projects and their metadata,
// labels and pull times.
type RetentionStore interface {
	meta.Store
	meta.AccessStore
	meta.Catalog
	meta.PullStore
}

// RunRetention is the suite for meta.RetentionStore. open returns a fresh,
// empty store (and arranges its own cleanup).
func RunRetention(t *testing.T, open func(t *testing.T) RetentionStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s RetentionStore)
	}{
		{"Policies", testRetentionPolicies},
		{"OnePolicyPerProject", testRetentionOnePerProject},
		{"PolicyGoesWithProject", testRetentionProjectDeleted},
		{"Artifacts", testRetentionArtifacts},
		{"FreedBytes", testFreedBytes},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func retentionID(t *testing.T, s RetentionStore, projectID int64) string {
	t.Helper()
	ps, err := s.ProjectSettings(t.Context(), projectID)
	must(t, err, "ProjectSettings(%d)", projectID)
	return ps[projectID].Metadata[meta.RetentionIDKey]
}

func testRetentionPolicies(t *testing.T, s RetentionStore) {
	ctx := t.Context()
	p := &meta.Project{Name: "ret"}
	must(t, s.CreateProject(ctx, p), "CreateProject")
	before := time.Now().Add(-time.Second)
	pol := &meta.RetentionPolicy{ProjectID: p.ID, Policy: `{"algorithm":"or"}`}
	must(t, s.CreateRetentionPolicy(ctx, pol), "CreateRetentionPolicy")
	if pol.ID == 0 || pol.CreatedAt.Before(before) || !pol.UpdatedAt.Equal(pol.CreatedAt) {
		t.Fatalf("CreateRetentionPolicy set %+v", pol)
	}
	equal(t, retentionID(t, s, p.ID), strconv.FormatInt(pol.ID, 10), "retention_id metadata")
	got, err := s.RetentionPolicy(ctx, pol.ID)
	must(t, err, "RetentionPolicy")
	equal(t, *got, *pol, "the policy read back")

	time.Sleep(2 * time.Millisecond)
	upd := &meta.RetentionPolicy{ID: pol.ID, ProjectID: 999, Policy: `{"algorithm":"or","rules":[]}`}
	must(t, s.UpdateRetentionPolicy(ctx, upd), "UpdateRetentionPolicy")
	if upd.ProjectID != p.ID || !upd.CreatedAt.Equal(pol.CreatedAt) || !upd.UpdatedAt.After(pol.UpdatedAt) {
		t.Fatalf("UpdateRetentionPolicy set %+v (created %+v)", upd, pol)
	}
	got, err = s.RetentionPolicy(ctx, pol.ID)
	must(t, err, "RetentionPolicy after update")
	equal(t, *got, *upd, "the policy updated")

	wantErr(t, s.UpdateRetentionPolicy(ctx, &meta.RetentionPolicy{ID: pol.ID + 100, Policy: "{}"}), meta.ErrNotFound, "update of none")
	_, err = s.RetentionPolicy(ctx, pol.ID+100)
	wantErr(t, err, meta.ErrNotFound, "read of none")
	wantErr(t, s.CreateRetentionPolicy(ctx, &meta.RetentionPolicy{ProjectID: p.ID + 100, Policy: "{}"}), meta.ErrNotFound, "create in no project")

	must(t, s.DeleteRetentionPolicy(ctx, pol.ID), "DeleteRetentionPolicy")
	equal(t, retentionID(t, s, p.ID), "", "retention_id after the delete")
	_, err = s.RetentionPolicy(ctx, pol.ID)
	wantErr(t, err, meta.ErrNotFound, "read after delete")
	wantErr(t, s.DeleteRetentionPolicy(ctx, pol.ID), meta.ErrNotFound, "delete again")

	// A new policy gets a new id.
	again := &meta.RetentionPolicy{ProjectID: p.ID, Policy: "{}"}
	must(t, s.CreateRetentionPolicy(ctx, again), "CreateRetentionPolicy again")
	if again.ID == pol.ID {
		t.Errorf("a new policy reuses id %d", pol.ID)
	}
	equal(t, retentionID(t, s, p.ID), strconv.FormatInt(again.ID, 10), "retention_id of the new policy")
}

// testRetentionOnePerProject: concurrent creates for one project, one
// wins; the metadata names the winner.
func testRetentionOnePerProject(t *testing.T, s RetentionStore) {
	ctx := t.Context()
	p := &meta.Project{Name: "race"}
	must(t, s.CreateProject(ctx, p), "CreateProject")
	const n = 8
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			pol := &meta.RetentionPolicy{ProjectID: p.ID, Policy: `{"n":` + strconv.Itoa(i) + `}`}
			errs[i] = s.CreateRetentionPolicy(ctx, pol)
			ids[i] = pol.ID
		})
	}
	wg.Wait()
	var won []int64
	for i, err := range errs {
		switch {
		case err == nil:
			won = append(won, ids[i])
		default:
			wantErr(t, err, meta.ErrConflict, "a losing create")
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d creates won: %v", len(won), errs)
	}
	equal(t, retentionID(t, s, p.ID), strconv.FormatInt(won[0], 10), "retention_id")
}

func testRetentionProjectDeleted(t *testing.T, s RetentionStore) {
	ctx := t.Context()
	p := &meta.Project{Name: "gone"}
	must(t, s.CreateProject(ctx, p), "CreateProject")
	pol := &meta.RetentionPolicy{ProjectID: p.ID, Policy: "{}"}
	must(t, s.CreateRetentionPolicy(ctx, pol), "CreateRetentionPolicy")
	must(t, s.DeleteProject(ctx, p.ID), "DeleteProject")
	_, err := s.RetentionPolicy(ctx, pol.ID)
	wantErr(t, err, meta.ErrNotFound, "the policy of a deleted project")
}

func testRetentionArtifacts(t *testing.T, s RetentionStore) {
	ctx := t.Context()
	const repo = "ret/app"
	p := &meta.Project{Name: "ret"}
	must(t, s.CreateProject(ctx, p), "CreateProject")
	got, err := s.RetentionArtifacts(ctx, "ret/none")
	must(t, err, "RetentionArtifacts of no repository")
	equal(t, len(got), 0, "artifacts of no repository")

	before := time.Now().Add(-time.Second)
	img := pushImage(t, s, repo, "img", "v1", "latest")
	c1, c2 := pushImage(t, s, repo, "c1"), pushImage(t, s, repo, "c2", "c2-tag")
	idx := manifestOf(t, repo, indexBody(manifestDesc(c1), manifestDesc(c2)))
	put(t, s, idx, "multi")
	sig := cosignSig(t, s, repo, idx, ".sig")
	sbom := referrer(t, s, repo, img, "application/spdx+json", "sbom")
	orphanSig := cosignSig(t, s, repo, &meta.Manifest{Digest: digest.FromString("not here")}, ".sig")
	l := &meta.Label{Name: "keep", Scope: meta.LabelScopeGlobal}
	must(t, s.CreateLabel(ctx, l), "CreateLabel")
	must(t, s.AddArtifactLabel(ctx, repo, img.Digest, l.ID), "AddArtifactLabel")
	pulled := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	must(t, s.RecordPulls(ctx, nil, []meta.PullTime{{Repo: repo, Digest: img.Digest, Tag: "v1", At: pulled}}), "RecordPulls")

	arts, err := s.RetentionArtifacts(ctx, repo)
	must(t, err, "RetentionArtifacts")
	by := map[digest.Digest]meta.RetentionArtifact{}
	for _, a := range arts {
		by[a.Digest] = a
	}
	equal(t, len(arts), 7, "every manifest")
	a := by[img.Digest]
	checkTime(t, "push time", a.PushedAt, before, time.Now())
	if !a.PulledAt.Equal(pulled) || a.MediaType != img.MediaType || a.AccessoryOf != "" || len(a.Children) != 0 {
		t.Errorf("image: %+v", a)
	}
	var names []string
	for _, tg := range a.Tags {
		names = append(names, tg.Name)
		if tg.Name == "v1" && !tg.PulledAt.Equal(pulled) || tg.Name == "latest" && !tg.PulledAt.IsZero() {
			t.Errorf("tag %s pulled at %v", tg.Name, tg.PulledAt)
		}
		checkTime(t, "tag push time", tg.PushedAt, before, time.Now())
	}
	equal(t, names, []string{"latest", "v1"}, "the image's tags")
	equal(t, a.Labels, []string{"keep"}, "the image's labels")
	full, err := s.Artifact(ctx, repo, img.Digest)
	must(t, err, "Artifact")
	equal(t, a.Size, full.Size, "size, as Artifact gives it")

	equal(t, by[idx.Digest].Children, digests(c1, c2), "the index's children")
	equal(t, by[sig.Digest].AccessoryOf, idx.Digest, "a cosign signature's artifact")
	equal(t, by[sbom.Digest].AccessoryOf, img.Digest, "a referrer's subject")
	equal(t, by[orphanSig.Digest].AccessoryOf, digest.Digest(""), "a signature of nothing here")
	equal(t, len(by[c2.Digest].Tags), 1, "a tagged child's tags")
	if by[c1.Digest].Tags == nil || by[c1.Digest].AccessoryOf != "" {
		t.Errorf("child: %+v", by[c1.Digest])
	}
}

func testFreedBytes(t *testing.T, s RetentionStore) {
	ctx := t.Context()
	// a and b share a base layer; c is the same image as a in another
	// repository; d has a layer of its own.
	base := "shared base layer"
	push := func(repo, seed string, layers ...string) *meta.Manifest {
		cfg := commitBlob(t, s, repo, `{"seed":"`+seed+`"}`)
		var refs []oci.Ref
		for _, l := range layers {
			refs = append(refs, commitBlob(t, s, repo, l))
		}
		m := manifestOf(t, repo, imageBody(cfg, refs, nil))
		put(t, s, m, seed)
		return m
	}
	a := push("f/one", "a", base, "a layer")
	b := push("f/one", "b", base, "b layer")
	c := push("f/two", "a", base, "a layer")
	d := push("f/one", "d", "d layer")
	size := func(content ...string) int64 {
		var n int64
		for _, c := range content {
			n += int64(len(c))
		}
		return n
	}
	freed := func(repo string, ms ...*meta.Manifest) int64 {
		t.Helper()
		var ds []digest.Digest
		for _, m := range ms {
			ds = append(ds, m.Digest)
		}
		n, err := s.FreedBytes(ctx, repo, ds)
		must(t, err, "FreedBytes")
		return n
	}
	// d: its manifest, config and layer go.
	equal(t, freed("f/one", d), d.Size+size(`{"seed":"d"}`, "d layer"), "d alone")
	// a: only its manifest (its config and layers are c's too).
	equal(t, freed("f/one", a), a.Size, "a, whose blobs c references")
	// b: its manifest and own blobs, not the shared base.
	equal(t, freed("f/one", b), b.Size+size(`{"seed":"b"}`, "b layer"), "b")
	// a and b: the base stays for c.
	equal(t, freed("f/one", a, b), a.Size+b.Size+size(`{"seed":"b"}`, "b layer"), "a and b")
	// c too (another repository): nothing else holds a's blobs and the base.
	equal(t, freed("f/two", c), c.Size, "c, whose blobs a references")
	// Unknown digests free nothing.
	equal(t, freed("f/one", &meta.Manifest{Digest: digest.FromString("x")}), int64(0), "an unknown manifest")
}
