package metatest

import (
	"context"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// MetricsStore is what the metrics suite needs.
type MetricsStore interface {
	meta.Store
	meta.AccessStore
	meta.QuotaStore
	meta.JobStore
	meta.MetricsStore
}

// RunMetrics is the suite for meta.MetricsStore: the figures of projects
// whose names are prefixes of each other's (a repository of one never
// counts for another), jobs by kind and status, blobs, uploads and the
// last garbage collection.
func RunMetrics(t *testing.T, open func(t *testing.T) MetricsStore) {
	s := open(t)
	ctx := context.Background()
	ps, err := s.ProjectFigures(ctx, 100)
	noErr(t, err)
	equal(t, len(ps), 0, "projects of an empty store")
	f, err := s.StoreFigures(ctx)
	noErr(t, err)
	equal(t, f, meta.StoreFigures{}, "store figures of an empty store")

	ab := &meta.Project{Name: "ab", Public: true}
	noErr(t, s.CreateProject(ctx, ab))
	noErr(t, s.CreateProject(ctx, &meta.Project{Name: "ab-c"}))
	noErr(t, s.CreateProject(ctx, &meta.Project{Name: "empty"}))
	noErr(t, s.SetStorageLimit(ctx, ab.ID, 1<<20))
	u := &meta.User{Username: "alice", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, u))
	noErr(t, s.SetMember(ctx, ab.ID, u.ID, 2))
	m1 := pushImage(t, s, "ab/x", "one", "v1")
	pushImage(t, s, "ab/y/z", "two", "v1")
	pushImage(t, s, "ab-c/web", "three")
	noErr(t, s.CreateUpload(ctx, meta.Upload{ID: "u1", Repo: "ab/x", CreatedAt: time.Now(), UpdatedAt: time.Now()}))

	ps, err = s.ProjectFigures(ctx, 100)
	noErr(t, err)
	if len(ps) != 3 {
		t.Fatalf("ProjectFigures: %d projects, want 3: %+v", len(ps), ps)
	}
	a := ps[0]
	if a.Name != "ab" || !a.Public || a.Repos != 2 || a.Artifacts != 2 || a.Limit != 1<<20 || a.Used <= m1.Size || a.Members != 1 {
		t.Errorf("ab: %+v, want public, 2 repositories, 2 artifacts, limit 1 MiB, some usage, 1 member", a)
	}
	if c := ps[1]; c.Name != "ab-c" || c.Public || c.Repos != 1 || c.Artifacts != 1 || c.Limit != -1 {
		t.Errorf("ab-c: %+v, want private, 1 repository, 1 artifact, no limit", c)
	}
	if e := ps[2]; e.Name != "empty" || e.Repos != 0 || e.Artifacts != 0 || e.Used != 0 {
		t.Errorf("empty: %+v", e)
	}
	ps, err = s.ProjectFigures(ctx, 1)
	noErr(t, err)
	equal(t, len(ps), 1, "projects with limit 1")

	// Jobs: two gc runs, one a dry run, both successful; one pending.
	for _, dry := range []bool{false, true} {
		e := &meta.Execution{Kind: "gc", Trigger: "MANUAL", DryRun: dry}
		noErr(t, s.Enqueue(ctx, e, false))
		run, err := s.Claim(ctx, []string{"gc"}, "h", time.Minute, 3)
		noErr(t, err)
		freed := `{"freed_space":123}`
		if dry {
			freed = `{"freed_space":999}`
		}
		noErr(t, s.Finish(ctx, run.ID, "h", meta.JobEnd{Status: meta.JobSuccess, Result: freed}))
	}
	noErr(t, s.Enqueue(ctx, &meta.Execution{Kind: "retention", Trigger: "MANUAL"}, false))
	js, err := s.JobFigures(ctx)
	noErr(t, err)
	equal(t, js, []meta.JobFigures{{Kind: "gc", Status: meta.JobSuccess, Count: 2}, {Kind: "retention", Status: meta.JobPending, Count: 1}},
		"JobFigures")

	f, err = s.StoreFigures(ctx)
	noErr(t, err)
	if f.Uploads != 1 || f.Blobs != 6 || f.BlobBytes <= 0 || f.GCFreed != 123 || f.GCAt.IsZero() {
		t.Errorf("StoreFigures = %+v, want 1 upload, 6 blobs, 123 bytes freed by the last (non-dry) gc", f)
	}
}
