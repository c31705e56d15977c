package gc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

var now0 = Params{Workers: 2, TimeWindow: 0}

func untagged(p Params) Params { p.DeleteUntagged = true; return p }

func dry(p Params) Params { p.DryRun = true; return p }

// fixture pushes a bit of everything and returns what must survive.
func fixture(e *env) (keep []*meta.Manifest, repos []string) {
	ctx := e.t.Context()
	// Tagged images sharing a layer across repositories.
	a := e.image("p/a", []string{"base", "a-layer"}, "v1")
	b := e.image("p/b", []string{"base", "b-layer"}, "v1")
	// An untagged image (garbage with delete_untagged) sharing "base".
	e.image("p/a", []string{"base", "untagged-only"})
	// A tagged index over untagged children, and an accessory of it.
	c1 := e.image("p/c", []string{"c1-layer"})
	c2 := e.image("p/c", []string{"c2-layer", "base"})
	idx := e.index("p/c", []*meta.Manifest{c1, c2}, "multi")
	sig := e.accessory("p/c", idx)
	// An untagged index over untagged children, with an accessory.
	d1 := e.image("p/d", []string{"d1-layer"})
	didx := e.index("p/d", []*meta.Manifest{d1})
	e.accessory("p/d", didx)
	// A blob pushed without a manifest, and a repository deleted.
	e.blob("p/a", "stray")
	e.image("p/gone", []string{"gone-layer", "base"}, "latest")
	e.must(e.meta.DeleteRepository(ctx, "p/gone"))
	// A manifest deleted: its blobs stay linked, unreferenced.
	old := e.image("p/b", []string{"old-layer"}, "old")
	e.must(e.meta.DeleteManifest(ctx, "p/b", old.Digest))
	return []*meta.Manifest{a, b, c1, c2, idx, sig}, []string{"p/a", "p/b", "p/c", "p/c", "p/c", "p/c"}
}

func blobFiles(e *env, ds ...digest.Digest) (n int) {
	for _, d := range ds {
		if e.hasBytes(d) {
			n++
		}
	}
	return n
}

// TestDryRunIsExact: a dry run deletes nothing and reports exactly what a
// real run then deletes; a second real run finds nothing.
func TestDryRunIsExact(t *testing.T) {
	for _, p := range []Params{now0, untagged(now0)} {
		t.Run("delete_untagged="+map[bool]string{true: "true", false: "false"}[p.DeleteUntagged], func(t *testing.T) {
			e := newEnv(t)
			keep, repos := fixture(e)
			garbage := []digest.Digest{digest.FromString("stray"), digest.FromString("gone-layer"),
				digest.FromString("old-layer")}
			d1, _ := e.dryRun(p)
			if n := blobFiles(e, garbage...); n != 3 {
				t.Fatalf("a dry run deleted bytes: %d of 3 left", n)
			}
			real, log := e.run(p)
			if d1 != real {
				t.Fatalf("dry run %+v, real run %+v\n%s", d1, real, log)
			}
			if real.PurgedBlobs == 0 || real.FreedSpace == 0 || real.UnlinkedBlobs == 0 {
				t.Fatalf("nothing deleted: %+v", real)
			}
			if p.DeleteUntagged != (real.PurgedManifests > 0) {
				t.Fatalf("PurgedManifests = %d with delete_untagged=%t", real.PurgedManifests, p.DeleteUntagged)
			}
			if n := blobFiles(e, garbage...); n != 0 {
				t.Fatalf("%d garbage blobs still have bytes\n%s", n, log)
			}
			for i, m := range keep {
				e.pullable(repos[i], m)
			}
			again, _ := e.run(p)
			if again != (Result{}) {
				t.Fatalf("second run: %+v", again)
			}
		})
	}
}

func (e *env) dryRun(p Params) (Result, string) {
	e.t.Helper()
	return e.run(dry(p))
}

// TestUntaggedDeletion: untagged manifests go only with delete_untagged;
// their unique blobs go with them, shared ones stay.
func TestUntaggedDeletion(t *testing.T) {
	e := newEnv(t)
	tagged := e.image("r", []string{"shared", "mine"}, "v1")
	loose := e.image("r", []string{"shared", "loose-only"})
	res, _ := e.run(now0)
	if res.PurgedManifests != 0 {
		t.Fatalf("without delete_untagged: %+v", res)
	}
	e.pullable("r", loose)
	res, _ = e.run(untagged(now0))
	if res.PurgedManifests != 1 || res.PurgedBlobs != 2 { // loose-only and loose's config
		t.Fatalf("with delete_untagged: %+v", res)
	}
	e.gone("r", loose)
	e.pullable("r", tagged)
	if e.hasBytes(digest.FromString("loose-only")) || !e.hasBytes(digest.FromString("shared")) {
		t.Fatal("wrong bytes deleted")
	}
}

// TestIndexChildrenAndAccessories: the children of a kept index and the
// accessories of a kept artifact are kept; an untagged index goes with its
// untagged children and its accessories, and a tagged child of it stays.
func TestIndexChildrenAndAccessories(t *testing.T) {
	e := newEnv(t)
	k1 := e.image("r", []string{"k1"})
	k2 := e.image("r", []string{"k2"})
	kidx := e.index("r", []*meta.Manifest{k1, k2}, "release")
	ksig := e.accessory("r", kidx)
	ksigsig := e.accessory("r", ksig) // an accessory of an accessory
	kchildSig := e.accessory("r", k1)
	g1 := e.image("r", []string{"g1"})
	g2 := e.image("r", []string{"g2"}, "g2-tag")
	gidx := e.index("r", []*meta.Manifest{g1, g2})
	gsig := e.accessory("r", gidx)
	nested := e.index("r", []*meta.Manifest{gidx}) // an untagged index of an index
	res, log := e.run(untagged(now0))
	for _, m := range []*meta.Manifest{k1, k2, kidx, ksig, ksigsig, kchildSig, g2} {
		e.pullable("r", m)
	}
	for _, m := range []*meta.Manifest{g1, gidx, gsig, nested} {
		e.gone("r", m)
	}
	if res.PurgedManifests != 4 {
		t.Fatalf("PurgedManifests = %d, want 4\n%s", res.PurgedManifests, log)
	}
	// nested before gidx before g1 and gsig.
	at := func(m *meta.Manifest) int { return strings.Index(log, "deleted manifest r@"+string(m.Digest)) }
	if !(at(nested) < at(gidx) && at(gidx) < at(g1) && at(gidx) < at(gsig)) {
		t.Fatalf("deletion order wrong:\n%s", log)
	}
}

// TestImmutableKept: a tagged artifact under an immutable rule is kept; a
// tag that arrives between mark and sweep (immutable or not) keeps its
// manifest, as does a new reference to a garbage link or a new link of a
// garbage blob.
func TestImmutableKept(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	projectID := e.project("p")
	e.must(e.meta.CreateImmutableRule(ctx, &meta.ImmutableRule{ProjectID: projectID, Action: "immutable",
		Template: "immutable_template", TagSelectors: []meta.ImmutableSelector{{Kind: "doublestar", Decoration: "matches", Pattern: "v*"}},
		ScopeSelectors: map[string][]meta.ImmutableSelector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}}}))
	frozen := e.image("p/r", []string{"frozen"}, "v1")
	late := e.image("p/r", []string{"late"})
	relinked := e.blob("p/r", "relinked")
	referenced := e.blob("p/r", "referenced")
	p := untagged(now0)
	time.Sleep(2 * time.Millisecond)
	before := time.Now().Truncate(time.Millisecond)
	pl, err := e.c.mark(ctx, p, before)
	e.must(err)
	if len(pl.manifests) != 1 || len(pl.links) != 4 { // late's two, relinked, referenced
		t.Fatalf("plan: %d manifests, %d links", len(pl.manifests), len(pl.links))
	}
	// Between mark and sweep: late gets an (immutable) tag, the stray
	// blob is referenced by a new manifest, and the other is unlinked and
	// pushed again (its link is new).
	e.must(e.meta.CreateTag(ctx, "p/r", "v2", late.Digest))
	e.must(e.meta.UnlinkBlob(ctx, "p/r", relinked.Digest))
	e.blob("p/r", "relinked")
	cfg := e.blob("p/r", "cfg of referencing")
	e.put("p/r", map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": desc("application/vnd.oci.image.config.v1+json", cfg.Digest, cfg.Size),
		"layers": []any{desc("application/vnd.oci.image.layer.v1.tar", referenced.Digest, referenced.Size)}}, "x")
	res, err := e.c.sweep(ctx, p, pl, before, func(string, ...any) {})
	e.must(err)
	if res.PurgedManifests != 0 || res.UnlinkedBlobs != 0 || res.PurgedBlobs != 0 {
		t.Fatalf("sweep after changes: %+v", res)
	}
	e.pullable("p/r", frozen)
	e.pullable("p/r", late)
	if _, err := e.meta.BlobSize(ctx, "p/r", referenced.Digest); err != nil {
		t.Fatalf("referenced link removed: %v", err)
	}
	if _, err := e.meta.BlobSize(ctx, "p/r", relinked.Digest); err != nil || !e.hasBytes(relinked.Digest) {
		t.Fatalf("relinked blob removed: %v", err)
	}
}

func (e *env) project(name string) int64 {
	e.t.Helper()
	p := &meta.Project{Name: name}
	e.must(e.meta.CreateProject(e.t.Context(), p))
	return p.ID
}

// TestTimeWindow: links and untagged manifests younger than the window
// stay; with a window of 0 they go.
func TestTimeWindow(t *testing.T) {
	e := newEnv(t)
	e.blob("r", "young stray")
	loose := e.image("r", []string{"young layer"})
	res, _ := e.run(untagged(Params{Workers: 1, TimeWindow: 2}))
	if res != (Result{}) {
		t.Fatalf("window of 2h deleted %+v", res)
	}
	e.pullable("r", loose)
	// Two hours later, by the collector's clock.
	e.c.Now = func() time.Time { return time.Now().Add(2*time.Hour + time.Minute) }
	res, _ = e.run(untagged(Params{Workers: 1, TimeWindow: 2}))
	if res.PurgedManifests != 1 || res.PurgedBlobs != 3 {
		t.Fatalf("after 2h: %+v", res)
	}
}

// failing fails Delete for the digests in fail.
type failing struct {
	*fs.Store
	mu   sync.Mutex
	fail map[digest.Digest]bool
}

func (f *failing) Delete(ctx context.Context, d digest.Digest) error {
	f.mu.Lock()
	bad := f.fail[d]
	f.mu.Unlock()
	if bad {
		return errors.New("storage refused")
	}
	return f.Store.Delete(ctx, d)
}

// TestFailedDeletionsRetried: a byte deletion that fails is logged, does
// not stop the run, and is retried by the next; missing bytes count as
// deleted.
func TestFailedDeletionsRetried(t *testing.T) {
	e := newEnv(t)
	bad := e.blob("r", "refused")
	e.blob("r", "fine")
	missing := e.blob("r", "missing")
	e.must(e.blobs.Delete(t.Context(), missing.Digest))
	f := &failing{Store: e.blobs, fail: map[digest.Digest]bool{bad.Digest: true}}
	e.c.Blobs = f
	res, log := e.run(now0)
	if res.PurgedBlobs != 3 || res.DeletedBytes != 2 || res.FailedBytes != 1 || !strings.Contains(log, "storage refused") {
		t.Fatalf("first run: %+v\n%s", res, log)
	}
	if !e.hasBytes(bad.Digest) {
		t.Fatal("refused blob gone")
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	res, _ = e.run(now0)
	if res.PurgedBlobs != 0 || res.DeletedBytes != 1 || res.FailedBytes != 0 {
		t.Fatalf("second run: %+v", res)
	}
	if e.hasBytes(bad.Digest) {
		t.Fatal("refused blob not deleted on the retry")
	}
}

// TestStop: a cancelled run stops between steps with ctx's error.
func TestStop(t *testing.T) {
	e := newEnv(t)
	e.blob("r", "x")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.c.Run(ctx, now0, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context: %v", err)
	}
}

// TestUploadsSwept: the run sweeps abandoned uploads; a dry run counts
// them.
func TestUploadsSwept(t *testing.T) {
	e := newEnv(t)
	calls, counts := 0, 0
	e.c.SweepUploads = func(context.Context) (int, error) { calls++; return 3, nil }
	e.c.CountUploads = func(context.Context) (int, error) { counts++; return 3, nil }
	if res, _ := e.dryRun(now0); calls != 0 || counts != 1 || res.PurgedUploads != 3 {
		t.Fatalf("dry run: %d sweeps, %d counts, result %+v", calls, counts, res)
	}
	res, _ := e.run(now0)
	if calls != 1 || counts != 1 || res.PurgedUploads != 3 {
		t.Fatalf("calls %d, result %+v", calls, res)
	}
}

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Params
		err  string
	}{
		{"", Params{Workers: 1, TimeWindow: 2}, ""},
		{`{}`, Params{Workers: 1, TimeWindow: 2}, ""},
		{`{"delete_untagged":true,"dry_run":true,"workers":10,"time_window":0,"delete_tag":false}`,
			Params{DeleteUntagged: true, DryRun: true, Workers: 10, TimeWindow: 0}, ""},
		{`{"workers":0}`, Params{}, "Workers must be greater than 0 and less than or equal to 10"},
		{`{"workers":11}`, Params{}, "Workers must be greater than 0"},
		{`{"workers":1.5}`, Params{}, "workers should be integer format"},
		{`{"time_window":-1}`, Params{}, "time_window"},
		{`{"time_window":"2"}`, Params{}, "time_window"},
		{`{"delete_untagged":1}`, Params{}, "invalid parameters"},
		{`{"workers":"2"}`, Params{}, "integer"},
		{`{"workers":null,"time_window":null}`, Params{Workers: 1, TimeWindow: 2}, ""},
		{`{"dry_run":"yes"}`, Params{}, "invalid parameters"},
		{`[`, Params{}, "invalid parameters"},
	} {
		got, err := ParseParams(tc.in)
		if tc.err != "" {
			var pe *ParamsError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseParams(%s) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseParams(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
