package blobtest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
)

// RunShared runs the sub-tests for a store that several processes (berth
// replicas) use at once: open returns two independent instances on the
// same storage, as two replicas would open it.
func RunShared(t *testing.T, open func(t *testing.T) (a, b blob.Store)) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, a, b blob.Store)
	}{
		{"CommitSameDigest", testSharedCommitSameDigest},
		{"CommitAndDelete", testSharedCommitAndDelete},
		{"ContinueUpload", testSharedContinueUpload},
		{"CommitSameUpload", testSharedCommitSameUpload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

// testSharedCommitSameDigest: both instances commit their own uploads of
// one digest at once, many times over; every Commit succeeds, the blob
// holds the bytes, and no upload is left.
func testSharedCommitSameDigest(t *testing.T, a, b blob.Store) {
	const rounds, perStore = 10, 4
	for r := range rounds {
		data := strings.Repeat(fmt.Sprintf("layer %d pushed through two replicas\n", r), 2000)
		d := digest.FromString(data)
		stores := []blob.Store{a, b}
		type job struct {
			s  blob.Store
			id string
		}
		var jobs []job
		for i := range 2 * perStore {
			j := job{stores[i%2], blob.NewUploadID()}
			write(t, j.s, j.id, 0, data)
			jobs = append(jobs, j)
		}
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() { errs[i] = j.s.Commit(t.Context(), j.id, d, int64(len(data))) })
		}
		wg.Wait()
		for i, err := range errs {
			must(t, err, "round %d: concurrent Commit %d", r, i)
		}
		checkBlob(t, a, d, data)
		checkBlob(t, b, d, data)
	}
	for _, s := range []blob.Store{a, b} {
		if got := uploadIDs(t, s); len(got) != 0 {
			t.Fatalf("Uploads = %q after concurrent commits", got)
		}
	}
}

// testSharedCommitAndDelete: one instance commits a digest while the other
// deletes it (garbage collection racing a push, which the database's
// protocol orders; the store must stay consistent either way). Each
// Commit succeeds or reports the upload gone, each Delete succeeds or
// finds nothing, and afterwards the blob is either absent or whole.
func testSharedCommitAndDelete(t *testing.T, a, b blob.Store) {
	const rounds = 40
	data := strings.Repeat("committed on one replica, deleted on the other\n", 500)
	d := digest.FromString(data)
	for r := range rounds {
		id := blob.NewUploadID()
		write(t, a, id, 0, data)
		var cerr, derr error
		var wg sync.WaitGroup
		wg.Go(func() { cerr = a.Commit(t.Context(), id, d, int64(len(data))) })
		wg.Go(func() { derr = b.Delete(t.Context(), d) })
		wg.Wait()
		must(t, cerr, "round %d: Commit", r)
		if derr != nil && !errors.Is(derr, blob.ErrNotFound) {
			t.Fatalf("round %d: Delete: %v", r, derr)
		}
		if _, err := b.Stat(t.Context(), d); err == nil {
			checkBlob(t, b, d, data)
			checkBlob(t, a, d, data)
		} else {
			wantErr(t, err, blob.ErrNotFound, "round %d: Stat", r)
		}
		noUpload(t, a, id)
	}
	// A Commit after a Delete stores the blob again.
	id := blob.NewUploadID()
	write(t, b, id, 0, data)
	if err := b.Delete(t.Context(), d); err != nil && !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Delete: %v", err)
	}
	noBlob(t, a, d)
	must(t, a.Commit(t.Context(), id, d, int64(len(data))), "Commit after Delete")
	checkBlob(t, b, d, data)
}

// testSharedContinueUpload: a chunked upload moves between instances
// (PATCH on one replica, PATCH on the other, PUT on the first), and a
// crashed request's extra bytes are cut off by the other instance.
func testSharedContinueUpload(t *testing.T, a, b blob.Store) {
	ctx := t.Context()
	id := blob.NewUploadID()
	write(t, a, id, 0, "first chunk on a, ")
	write(t, b, id, 18, "second on b, ")
	upload(t, a, id, "first chunk on a, second on b, ")
	// A request on a that wrote bytes but never had them recorded.
	w, err := a.Append(ctx, id, 31)
	must(t, err, "Append on a")
	_, _ = w.Write([]byte("lost"))
	w.Abandon()
	write(t, b, id, 31, "third on b")
	data := "first chunk on a, second on b, third on b"
	upload(t, a, id, data)
	d := digest.FromString(data)
	must(t, a.Commit(ctx, id, d, int64(len(data))), "Commit on a")
	checkBlob(t, b, d, data)
	noUpload(t, b, id)
	// b retries the final PUT that a already carried out.
	must(t, b.Commit(ctx, id, d, int64(len(data))), "retried Commit on b")
	// Abort on one instance removes the other's upload.
	other := blob.NewUploadID()
	write(t, a, other, 0, "aborted on b")
	must(t, b.Abort(ctx, other), "Abort on b")
	noUpload(t, a, other)
}

// testSharedCommitSameUpload: a client retries its final PUT on another
// replica while the first one still commits it; both succeed.
func testSharedCommitSameUpload(t *testing.T, a, b blob.Store) {
	for r := range 20 {
		data := strings.Repeat(fmt.Sprintf("put twice %d\n", r), 300)
		d := digest.FromString(data)
		id := blob.NewUploadID()
		write(t, a, id, 0, data)
		var errs [2]error
		var wg sync.WaitGroup
		wg.Go(func() { errs[0] = a.Commit(t.Context(), id, d, int64(len(data))) })
		wg.Go(func() { errs[1] = b.Commit(t.Context(), id, d, int64(len(data))) })
		wg.Wait()
		must(t, errs[0], "round %d: Commit on a", r)
		must(t, errs[1], "round %d: Commit on b", r)
		checkBlob(t, a, d, data)
		noUpload(t, b, id)
	}
}
