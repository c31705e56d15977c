package metatest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// BlobDirStore is what the blob directory suite needs.
type BlobDirStore interface {
	meta.Store
	meta.BlobDirStore
}

// RunBlobDir is the suite for meta.BlobDirStore. open returns a fresh,
// empty store (and arranges its own cleanup).
func RunBlobDir(t *testing.T, open func(t *testing.T) BlobDirStore) {
	t.Run("ClaimOnce", func(t *testing.T) { testBlobDirClaim(t, open(t)) })
	t.Run("HasBlobs", func(t *testing.T) { testHasBlobs(t, open(t)) })
}

// testBlobDirClaim: of concurrent claims one wins and every claimant
// reads the winner; later claims change nothing.
func testBlobDirClaim(t *testing.T, s BlobDirStore) {
	ctx := context.Background()
	id, err := s.BlobDirID(ctx)
	noErr(t, err)
	if id != "" {
		t.Fatalf("BlobDirID on a new store = %q, want none", id)
	}
	const n = 6
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.ClaimBlobDirID(ctx, fmt.Sprintf("dir-%d", i)) })
	}
	wg.Wait()
	for i := range n {
		noErr(t, errs[i])
		if got[i] == "" || got[i] != got[0] {
			t.Fatalf("concurrent claims answered %q, want one id", got)
		}
	}
	again, err := s.ClaimBlobDirID(ctx, "later")
	noErr(t, err)
	id, err = s.BlobDirID(ctx)
	noErr(t, err)
	if again != got[0] || id != got[0] {
		t.Fatalf("after a later claim: claim %q, BlobDirID %q; want %q", again, id, got[0])
	}
}

func testHasBlobs(t *testing.T, s BlobDirStore) {
	ctx := context.Background()
	has, err := s.HasBlobs(ctx)
	noErr(t, err)
	if has {
		t.Fatal("HasBlobs on a new store")
	}
	noErr(t, s.CommitBlob(ctx, "library/app", digest.FromString("a layer"), 7, ""))
	has, err = s.HasBlobs(ctx)
	noErr(t, err)
	if !has {
		t.Fatal("HasBlobs after CommitBlob = false")
	}
}
