package fs_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/blobtest"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
)

// TestSharedSuite: two stores on one directory, as two replicas on one
// shared filesystem.
func TestSharedSuite(t *testing.T) {
	blobtest.RunShared(t, func(t *testing.T) (blob.Store, blob.Store) {
		dir := t.TempDir()
		return newStore(t, dir), newStore(t, dir)
	})
}

// TestClaimMarker: of processes claiming the marker at once, one wins and
// all of them read its id; a later claim keeps it.
func TestClaimMarker(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	if _, err := s.Marker(); !errors.Is(err, blobfs.ErrNoMarker) {
		t.Fatalf("Marker on a new directory: %v, want ErrNoMarker", err)
	}
	const n = 8
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := newStore(t, dir).ClaimMarker(blob.NewUploadID())
			if err != nil {
				t.Error(err)
			}
			got[i] = id
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] == "" || got[i] != got[0] {
			t.Fatalf("claims answered %q, want one id", got)
		}
	}
	if id, err := s.ClaimMarker("another"); err != nil || id != got[0] {
		t.Fatalf("a later claim: %q, %v; want %q", id, err, got[0])
	}
	if id, err := s.Marker(); err != nil || id != got[0] {
		t.Fatalf("Marker = %q, %v; want %q", id, err, got[0])
	}
	if us, err := s.Uploads(t.Context()); err != nil || len(us) != 0 {
		t.Fatalf("Uploads after claims: %v, %v", us, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "uploads"))
	if len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// TestEmptyAndWritable: a new store is empty and writable; one blob makes
// it non-empty; a read-only directory is reported.
func TestEmptyAndWritable(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	if empty, err := s.Empty(); err != nil || !empty {
		t.Fatalf("Empty on a new store: %v, %v", empty, err)
	}
	if err := s.CheckWritable(); err != nil {
		t.Fatal(err)
	}
	id, d := put(t, s, "one blob")
	if err := s.Commit(t.Context(), id, d, 8); err != nil {
		t.Fatal(err)
	}
	if empty, err := s.Empty(); err != nil || empty {
		t.Fatalf("Empty with a blob: %v, %v", empty, err)
	}
	if os.Geteuid() != 0 { // root writes anywhere
		if err := os.Chmod(filepath.Join(dir, "uploads"), 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(filepath.Join(dir, "uploads"), 0o750)
		if err := s.CheckWritable(); err == nil {
			t.Fatal("CheckWritable on a read-only directory succeeded")
		}
	}
}

// TestSweepTemp removes only old temporary files, never uploads.
func TestSweepTemp(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	id, _ := put(t, s, "an upload")
	old := time.Now().Add(-2 * time.Hour)
	for name, mtime := range map[string]time.Time{".tmp-old": old, ".tmp-young": time.Now(), id: old} {
		p := filepath.Join(dir, "uploads", name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.SweepTemp(time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("SweepTemp = %d, %v; want 1", n, err)
	}
	for name, want := range map[string]bool{".tmp-old": false, ".tmp-young": true, id: true} {
		if _, err := os.Stat(filepath.Join(dir, "uploads", name)); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", name, err == nil, want)
		}
	}
}
