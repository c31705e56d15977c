package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// GCStore is what RunGC tests: a store with garbage collection's methods.
type GCStore interface {
	meta.Store
	meta.GCStore
	meta.BlobReviver
}

// RunGC is the suite for meta.GCStore and meta.BlobReviver. open returns
// a fresh, empty store (and arranges its own cleanup).
func RunGC(t *testing.T, open func(t *testing.T) GCStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s GCStore)
	}{
		{"MarkReads", testGCMarkReads},
		{"DeleteManifestRechecks", testGCDeleteManifest},
		{"UnlinkRechecks", testGCUnlink},
		{"DeleteBlobsQueuesBytes", testGCDeleteBlobs},
		{"CommitRefusedUntilRevived", testGCRevive},
		{"DeleteBytes", testGCDeleteBytes},
		{"RaceManifestPutWithUnlink", testGCRacePut},
		{"RaceCommitWithCollection", testGCRaceCommit},
		{"QuotaStaysExact", testGCQuota},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// future is a before that counts everything as old enough.
func future() time.Time { return time.Now().Add(time.Hour) }

func gcManifests(t *testing.T, s GCStore) map[string][]meta.GCManifest {
	t.Helper()
	out := map[string][]meta.GCManifest{}
	var order []string
	must(t, s.GCManifests(t.Context(), func(repo string, ms []meta.GCManifest) error {
		order = append(order, repo)
		out[repo] = ms
		return nil
	}), "GCManifests")
	if !slices.IsSorted(order) {
		t.Fatalf("GCManifests repositories out of order: %q", order)
	}
	return out
}

func unreferenced(t *testing.T, s GCStore, before time.Time) []string {
	t.Helper()
	var out []string
	must(t, s.GCUnreferencedLinks(t.Context(), before, func(l meta.GCLink) error {
		out = append(out, fmt.Sprintf("%s@%s:%d", l.Repo, l.Digest, l.Size))
		return nil
	}), "GCUnreferencedLinks")
	slices.Sort(out)
	return out
}

func linkName(repo string, r oci.Ref) string { return fmt.Sprintf("%s@%s:%d", repo, r.Digest, r.Size) }

func testGCMarkReads(t *testing.T, s GCStore) {
	ctx := t.Context()
	// a: all tagged (not listed); b: a tagged index over an untagged child,
	// an untagged image, an accessory of the index.
	pushImage(t, s, "a", "a1", "v1")
	child := pushImage(t, s, "b", "child")
	idx := manifestOf(t, "b", indexBody(manifestDesc(child)))
	put(t, s, idx, "multi")
	loose := pushImage(t, s, "b", "loose")
	sig := manifestOf(t, "b", imageBody(commitBlob(t, s, "b", "sigcfg"), nil,
		map[string]any{"subject": manifestDesc(idx)}))
	put(t, s, sig)
	stray := commitBlob(t, s, "b", "stray")

	got := gcManifests(t, s)
	if _, ok := got["a"]; ok || len(got) != 1 {
		t.Fatalf("GCManifests repositories = %v, want only b", slices.Collect(mapKeys(got)))
	}
	byDigest := map[digest.Digest]meta.GCManifest{}
	for _, m := range got["b"] {
		byDigest[m.Digest] = m
	}
	equal(t, len(byDigest), 4, "manifests of b")
	if m := byDigest[idx.Digest]; !m.Tagged || !slices.Equal(m.Children, []digest.Digest{child.Digest}) {
		t.Fatalf("index = %+v", m)
	}
	if m := byDigest[child.Digest]; m.Tagged || m.CreatedAt.IsZero() || len(m.Children) != 0 {
		t.Fatalf("child = %+v", m)
	}
	equal(t, byDigest[sig.Digest].Subject, idx.Digest, "accessory's subject")
	equal(t, byDigest[loose.Digest].Tagged, false, "loose tagged")

	// Only the stray blob is unreferenced; nothing is before the epoch.
	equal(t, unreferenced(t, s, future()), []string{linkName("b", stray)}, "unreferenced links")
	equal(t, unreferenced(t, s, time.Unix(0, 0)), []string(nil), "unreferenced links before the epoch")

	var refs []string
	must(t, s.GCRefs(ctx, "b", func(m, ref digest.Digest) error {
		if m == idx.Digest {
			refs = append(refs, string(ref))
		}
		return nil
	}), "GCRefs")
	equal(t, refs, []string{string(child.Digest)}, "refs of the index")

	links, err := s.GCLinks(ctx, "b", []digest.Digest{stray.Digest, digest.FromString("absent")})
	must(t, err, "GCLinks")
	if len(links) != 1 || links[0].Digest != stray.Digest || links[0].Size != stray.Size || links[0].Repo != "b" {
		t.Fatalf("GCLinks = %+v", links)
	}
	commitBlob(t, s, "c", "stray")
	counts, err := s.GCLinkCounts(ctx, []digest.Digest{stray.Digest, digest.FromString("absent")})
	must(t, err, "GCLinkCounts")
	equal(t, counts, map[digest.Digest]int{stray.Digest: 2}, "GCLinkCounts")

	must(t, s.UnlinkBlob(ctx, "b", stray.Digest), "UnlinkBlob b")
	must(t, s.UnlinkBlob(ctx, "c", stray.Digest), "UnlinkBlob c")
	var unlinked []meta.GCBlob
	must(t, s.GCUnlinkedBlobs(ctx, func(b meta.GCBlob) error { unlinked = append(unlinked, b); return nil }), "GCUnlinkedBlobs")
	equal(t, unlinked, []meta.GCBlob{{Digest: stray.Digest, Size: stray.Size}}, "unlinked blobs")
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func gcDelete(t *testing.T, s GCStore, repo string, d digest.Digest, before time.Time, want bool) {
	t.Helper()
	ok, err := s.GCDeleteManifest(t.Context(), repo, d, before)
	must(t, err, "GCDeleteManifest(%s, %s)", repo, d)
	if ok != want {
		t.Fatalf("GCDeleteManifest(%s, %s) = %v, want %v", repo, d, ok, want)
	}
}

func testGCDeleteManifest(t *testing.T, s GCStore) {
	tagged := pushImage(t, s, "r", "tagged", "v1")
	child := pushImage(t, s, "r", "child")
	idx := manifestOf(t, "r", indexBody(manifestDesc(child)))
	put(t, s, idx)
	acc := manifestOf(t, "r", imageBody(commitBlob(t, s, "r", "acc"), nil, map[string]any{"subject": manifestDesc(tagged)}))
	put(t, s, acc)
	orphanAcc := manifestOf(t, "r", imageBody(commitBlob(t, s, "r", "orphan"), nil,
		map[string]any{"subject": descJSON(oci.MediaTypeImageManifest, digest.FromString("gone"), 3)}))
	put(t, s, orphanAcc)

	gcDelete(t, s, "r", tagged.Digest, future(), false)
	gcDelete(t, s, "r", child.Digest, future(), false)      // an index references it
	gcDelete(t, s, "r", acc.Digest, future(), false)        // its subject is here
	gcDelete(t, s, "r", idx.Digest, time.Unix(0, 0), false) // too young
	gcDelete(t, s, "r", digest.FromString("nothing"), future(), false)
	gcDelete(t, s, "r", idx.Digest, future(), true)
	noManifest(t, s, "r", string(idx.Digest))
	gcDelete(t, s, "r", child.Digest, future(), true) // its index is gone
	gcDelete(t, s, "r", orphanAcc.Digest, future(), true)
	checkManifest(t, s, "r", "v1", tagged)
	checkManifest(t, s, "r", string(acc.Digest), acc)
	// The deleted manifests' references went with them: their blobs are
	// unreferenced now.
	got := unreferenced(t, s, future())
	equal(t, len(got), 3, "links unreferenced after the deletes (child's config and layer, orphan's config)")
}

func testGCUnlink(t *testing.T, s GCStore) {
	ctx := t.Context()
	used := pushImage(t, s, "r", "used", "v1")
	garbage := commitBlob(t, s, "r", "garbage")
	other := commitBlob(t, s, "q", "garbage")
	ds := []digest.Digest{used.Refs[0].Digest, garbage.Digest, digest.FromString("never linked")}
	done, err := s.GCUnlink(ctx, "r", ds, time.Unix(0, 0))
	must(t, err, "GCUnlink too young")
	equal(t, len(done), 0, "unlinked while too young")
	done, err = s.GCUnlink(ctx, "r", ds, future())
	must(t, err, "GCUnlink")
	equal(t, done, []digest.Digest{garbage.Digest}, "GCUnlink")
	noBlob(t, s, "r", garbage.Digest)
	blobSize(t, s, "q", other.Digest, other.Size)
	blobSize(t, s, "r", used.Refs[0].Digest, used.Refs[0].Size)
}

func testGCDeleteBlobs(t *testing.T, s GCStore) {
	ctx := t.Context()
	kept := commitBlob(t, s, "r", "kept")
	gone := commitBlob(t, s, "r", "gone")
	must(t, s.UnlinkBlob(ctx, "r", gone.Digest), "UnlinkBlob")
	del, err := s.GCDeleteBlobs(ctx, []digest.Digest{kept.Digest, gone.Digest, digest.FromString("absent")})
	must(t, err, "GCDeleteBlobs")
	equal(t, del, []meta.GCBlob{{Digest: gone.Digest, Size: gone.Size}}, "GCDeleteBlobs")
	pending, err := s.GCPendingDeletions(ctx, "", 10)
	must(t, err, "GCPendingDeletions")
	equal(t, pending, []meta.GCBlob{{Digest: gone.Digest, Size: gone.Size}}, "pending")
	pending, err = s.GCPendingDeletions(ctx, gone.Digest, 10)
	must(t, err, "GCPendingDeletions after")
	equal(t, len(pending), 0, "pending after the last")
	for d, want := range map[digest.Digest]bool{gone.Digest: true, kept.Digest: false} {
		got, err := s.BlobDeletionPending(ctx, d)
		must(t, err, "BlobDeletionPending")
		equal(t, got, want, "BlobDeletionPending(%s)", d)
	}
	// A mount finds nothing to mount from.
	_, err = s.MountBlob(ctx, "q", "", gone.Digest)
	wantErr(t, err, meta.ErrBlobNotFound, "MountBlob of a collected blob")
	blobSize(t, s, "r", kept.Digest, kept.Size)
}

func testGCRevive(t *testing.T, s GCStore) {
	ctx := t.Context()
	b := commitBlob(t, s, "r", "revived")
	must(t, s.UnlinkBlob(ctx, "r", b.Digest), "UnlinkBlob")
	_, err := s.GCDeleteBlobs(ctx, []digest.Digest{b.Digest})
	must(t, err, "GCDeleteBlobs")
	id := newUploadID()
	must(t, s.CreateUpload(ctx, meta.Upload{ID: id, Repo: "q"}), "CreateUpload")
	wantErr(t, s.CommitBlob(ctx, "q", b.Digest, b.Size, id), meta.ErrBlobDeletionPending, "CommitBlob while queued")
	noBlob(t, s, "q", b.Digest)
	_, err = s.GetUpload(ctx, "q", id)
	must(t, err, "the refused commit kept its upload")

	failed := errors.New("bytes gone")
	called := 0
	wantErr(t, s.ReviveBlob(ctx, b.Digest, func(context.Context) error { called++; return failed }), failed, "ReviveBlob failing")
	wantErr(t, s.CommitBlob(ctx, "q", b.Digest, b.Size, id), meta.ErrBlobDeletionPending, "CommitBlob after a failed revival")
	must(t, s.ReviveBlob(ctx, b.Digest, func(context.Context) error { called++; return nil }), "ReviveBlob")
	equal(t, called, 2, "ensure calls")
	pending, err := s.BlobDeletionPending(ctx, b.Digest)
	must(t, err, "BlobDeletionPending")
	equal(t, pending, false, "pending after revival")
	must(t, s.ReviveBlob(ctx, b.Digest, func(context.Context) error { called++; return nil }), "ReviveBlob of nothing")
	equal(t, called, 2, "ensure calls without a queued deletion")
	must(t, s.CommitBlob(ctx, "q", b.Digest, b.Size, id), "CommitBlob after revival")
	blobSize(t, s, "q", b.Digest, b.Size)
	left, err := s.GCPendingDeletions(ctx, "", 10)
	must(t, err, "GCPendingDeletions")
	equal(t, len(left), 0, "deletions left")
}

func testGCDeleteBytes(t *testing.T, s GCStore) {
	ctx := t.Context()
	var ds []digest.Digest
	for _, c := range []string{"one", "two", "three"} {
		b := commitBlob(t, s, "r", c)
		must(t, s.UnlinkBlob(ctx, "r", b.Digest), "UnlinkBlob")
		ds = append(ds, b.Digest)
	}
	_, err := s.GCDeleteBlobs(ctx, ds)
	must(t, err, "GCDeleteBlobs")
	slices.Sort(ds)
	var seen []digest.Digest
	done, err := s.GCDeleteBytes(ctx, ds, func(_ context.Context, bs []meta.GCBlob) map[digest.Digest]error {
		for _, b := range bs {
			seen = append(seen, b.Digest)
		}
		return map[digest.Digest]error{ds[1]: errors.New("storage said no")}
	})
	must(t, err, "GCDeleteBytes")
	slices.Sort(seen)
	equal(t, seen, ds, "deletions attempted")
	if len(done) != 2 || slices.ContainsFunc(done, func(b meta.GCBlob) bool { return b.Digest == ds[1] }) {
		t.Fatalf("GCDeleteBytes done = %+v, want all but %s", done, ds[1])
	}
	pending, err := s.GCPendingDeletions(ctx, "", 10)
	must(t, err, "GCPendingDeletions")
	equal(t, len(pending), 1, "still queued")
	equal(t, pending[0].Digest, ds[1], "still queued")
	// Done ones are not attempted again; a commit of one still has to
	// revive it (its tombstone), until the tombstone is forgotten.
	done, err = s.GCDeleteBytes(ctx, ds, func(_ context.Context, bs []meta.GCBlob) map[digest.Digest]error {
		if len(bs) != 1 || bs[0].Digest != ds[1] {
			t.Errorf("second attempt got %+v", bs)
		}
		return nil
	})
	must(t, err, "GCDeleteBytes again")
	equal(t, len(done), 1, "done on the second attempt")
	wantErr(t, s.CommitBlob(ctx, "r", ds[0], 3, ""), meta.ErrBlobDeletionPending, "CommitBlob of a deleted blob")
	n, err := s.GCPurgeTombstones(ctx, time.Now().Add(-time.Hour))
	must(t, err, "GCPurgeTombstones (none old enough)")
	equal(t, n, int64(0), "tombstones forgotten")
	n, err = s.GCPurgeTombstones(ctx, future())
	must(t, err, "GCPurgeTombstones")
	equal(t, n, int64(3), "tombstones forgotten")
	must(t, s.CommitBlob(ctx, "r", ds[0], 3, ""), "CommitBlob after the tombstone is forgotten")
}

// testGCRacePut races manifest PUTs with the collector's unlink of the
// links they reference: each PUT either commits with its link kept, or is
// refused with the link gone.
func testGCRacePut(t *testing.T, s GCStore) {
	ctx := t.Context()
	for i := range 40 {
		repo := fmt.Sprintf("race/%d", i)
		layer := commitBlob(t, s, repo, fmt.Sprintf("layer %d", i))
		cfg := commitBlob(t, s, repo, fmt.Sprintf("config %d", i))
		m := manifestOf(t, repo, imageBody(cfg, []oci.Ref{layer}, nil))
		var putErr, gcErr error
		var wg sync.WaitGroup
		wg.Go(func() { putErr = s.PutManifest(ctx, m, []string{"t"}) })
		wg.Go(func() {
			_, gcErr = s.GCUnlink(ctx, repo, []digest.Digest{layer.Digest, cfg.Digest}, future())
		})
		wg.Wait()
		must(t, gcErr, "GCUnlink")
		var missing *meta.MissingRefError
		switch {
		case putErr == nil:
			blobSize(t, s, repo, layer.Digest, layer.Size)
			blobSize(t, s, repo, cfg.Digest, cfg.Size)
		case errors.As(putErr, &missing):
			noManifest(t, s, repo, "t")
		default:
			t.Fatalf("PutManifest: %v", putErr)
		}
	}
}

// testGCRaceCommit races commits of a digest, following the
// BlobReviver protocol over an in-memory byte store, with the collector
// deleting the digest's row and bytes: a commit that succeeds finds its
// bytes there afterwards. Each round's digest is new, linked only in
// "seed", whose link the collector removes as the commit runs; the commit
// dawdles between placing its bytes and CommitBlob, where the collector
// may delete both row and bytes.
func testGCRaceCommit(t *testing.T, s GCStore) {
	ctx := t.Context()
	var mu sync.Mutex
	stored := map[digest.Digest]bool{}
	has := func(d digest.Digest) bool { mu.Lock(); defer mu.Unlock(); return stored[d] }
	del := func(_ context.Context, bs []meta.GCBlob) map[digest.Digest]error {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bs {
			delete(stored, b.Digest)
		}
		return nil
	}
	// commit is the registry's: an upload that finds the bytes there is
	// dropped; with the upload gone, placing succeeds only if they are.
	commit := func(repo string, d digest.Digest, size int64, dawdle time.Duration) error {
		upload := true
		place := func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if upload {
				upload = false
				stored[d] = true
				return nil
			}
			if !stored[d] {
				return errors.New("bytes gone")
			}
			return nil
		}
		pending, err := s.BlobDeletionPending(ctx, d)
		if err != nil {
			return err
		}
		if pending {
			err = s.ReviveBlob(ctx, d, place)
		} else {
			err = place(ctx)
		}
		time.Sleep(dawdle)
		for attempt := 0; err == nil; attempt++ {
			err = s.CommitBlob(ctx, repo, d, size, "")
			if !errors.Is(err, meta.ErrBlobDeletionPending) || attempt == 3 {
				break
			}
			err = s.ReviveBlob(ctx, d, place)
		}
		return err
	}
	committed, refused := 0, 0
	for i := range 80 {
		d := digest.FromString(fmt.Sprintf("contended %d", i))
		mu.Lock()
		stored[d] = true
		mu.Unlock()
		must(t, s.CommitBlob(ctx, "seed", d, 9, ""), "seed commit")
		var commitErr, gcErr error
		var wg sync.WaitGroup
		wg.Go(func() { commitErr = commit("c", d, 9, time.Duration(i%4)*time.Millisecond) })
		wg.Go(func() {
			time.Sleep(time.Duration(i%3) * time.Millisecond / 2)
			if err := s.UnlinkBlob(ctx, "seed", d); err != nil {
				gcErr = err
				return
			}
			if _, err := s.GCDeleteBlobs(ctx, []digest.Digest{d}); err != nil {
				gcErr = err
				return
			}
			_, gcErr = s.GCDeleteBytes(ctx, []digest.Digest{d}, del)
		})
		wg.Wait()
		must(t, gcErr, "collector")
		if commitErr != nil {
			refused++
			continue
		}
		committed++
		blobSize(t, s, "c", d, 9)
		if !has(d) {
			t.Fatalf("round %d: %s committed and linked, but its bytes were deleted", i, d)
		}
	}
	t.Logf("%d commits, %d refused", committed, refused)
	if committed == 0 {
		t.Fatal("no commit succeeded")
	}
}

// testGCQuota: the collector's deletes and unlinks release what they held
// of the project's usage, through the same paths as the API's: the kept
// usage equals a recount after each step.
func testGCQuota(t *testing.T, s GCStore) {
	acc, ok1 := s.(meta.AccessStore)
	qs, ok2 := s.(meta.QuotaStore)
	if !ok1 || !ok2 {
		t.Skip("the store keeps no quotas")
	}
	ctx := t.Context()
	p := &meta.Project{Name: "q"}
	must(t, acc.CreateProject(ctx, p), "CreateProject")
	exact := func(step string) int64 {
		t.Helper()
		q, err := qs.Quota(ctx, p.ID)
		must(t, err, "Quota")
		n, err := qs.RecountProjectUsage(ctx, "q")
		must(t, err, "RecountProjectUsage")
		if q.Used != n {
			t.Fatalf("%s: usage kept %d, recounted %d", step, q.Used, n)
		}
		return n
	}
	pushImage(t, s, "q/r", "kept", "v1")
	loose := pushImage(t, s, "q/r", "loose")
	gone := pushImage(t, s, "q/r", "gone", "v2")
	stray := commitBlob(t, s, "q/r", "stray")
	must(t, s.DeleteManifest(ctx, "q/r", gone.Digest), "DeleteManifest")
	before := exact("before GC")
	gcDelete(t, s, "q/r", loose.Digest, future(), true)
	exact("after the untagged manifest's delete")
	var ds []digest.Digest
	must(t, s.GCUnreferencedLinks(ctx, future(), func(l meta.GCLink) error { ds = append(ds, l.Digest); return nil }), "GCUnreferencedLinks")
	if !slices.Contains(ds, stray.Digest) || len(ds) != 5 { // stray, gone's and loose's configs and layers
		t.Fatalf("unreferenced links %v", ds)
	}
	done, err := s.GCUnlink(ctx, "q/r", ds, future())
	must(t, err, "GCUnlink")
	equal(t, len(done), 5, "links removed")
	if after := exact("after the unlinks"); after >= before {
		t.Fatalf("usage %d after GC, %d before", after, before)
	}
}
