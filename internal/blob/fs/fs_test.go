package fs_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/blobtest"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
)

func newStore(t *testing.T, dir string) *blobfs.Store {
	t.Helper()
	s, err := blobfs.New(dir)
	if err != nil {
		t.Fatalf("New(%s): %v", dir, err)
	}
	return s
}

func TestSuite(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t, t.TempDir()) })
}

func put(t *testing.T, s *blobfs.Store, data string) (string, digest.Digest) {
	t.Helper()
	ctx := context.Background()
	id := blob.NewUploadID()
	w, err := s.Append(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return id, digest.FromString(data)
}

// TestOpenReturnsOSFile: net/http uses sendfile only for an *os.File.
func TestOpenReturnsOSFile(t *testing.T) {
	s := newStore(t, t.TempDir())
	id, d := put(t, s, "sendfile me")
	if err := s.Commit(context.Background(), id, d, 11); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Fatalf("Open returned %T, want *os.File", rc)
	}
}

// files lists every regular file under root, relative and slash-separated.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func blobFile(d digest.Digest) string {
	return "blobs/" + string(d.Algorithm()) + "/" + d.Encoded()[:2] + "/" + d.Encoded()
}

// TestNoStrayFiles: after commits (new and existing digests), aborts and
// refused commits are cleaned up, the root holds only the blobs.
func TestNoStrayFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := newStore(t, root)

	id, d := put(t, s, "first")
	if err := s.Commit(ctx, id, d, 5); err != nil {
		t.Fatal(err)
	}
	id, _ = put(t, s, "first")
	if err := s.Commit(ctx, id, d, 5); err != nil {
		t.Fatal(err)
	}
	id, _ = put(t, s, "second")
	d512 := digest.SHA512.FromString("second")
	if err := s.Commit(ctx, id, d512, 6); err != nil {
		t.Fatal(err)
	}
	id, _ = put(t, s, "aborted")
	if err := s.Abort(ctx, id); err != nil {
		t.Fatal(err)
	}
	id, dWrong := put(t, s, "wrong size")
	if err := s.Commit(ctx, id, dWrong, 3); err == nil {
		t.Fatal("Commit with a wrong size succeeded")
	}
	if err := s.Abort(ctx, id); err != nil {
		t.Fatal(err)
	}

	want := []string{blobFile(d), blobFile(d512)}
	slices.Sort(want)
	if got := files(t, root); !slices.Equal(got, want) {
		t.Fatalf("files under the root: %q, want %q", got, want)
	}
	entries, err := os.ReadDir(filepath.Join(root, "uploads"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("uploads/ holds %v, %v; want nothing", entries, err)
	}
}

// TestTraversalStaysInRoot plants files where "../" ids and digests would
// resolve to and checks no operation reads, removes or creates them.
func TestTraversalStaysInRoot(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	s := newStore(t, root)
	// uploads/../x is root/x; blobs/sha256/../../../etc/passwd is parent/etc/passwd.
	planted := map[string]string{
		filepath.Join(root, "x"):                  "upload canary",
		filepath.Join(parent, "etc", "passwd"):    "blob canary",
		filepath.Join(parent, "etc", "passwd.up"): "commit canary",
	}
	for p, content := range planted {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := files(t, parent)

	for _, id := range []string{"../x", "../root/x", "../../etc/passwd"} {
		if err := s.Abort(ctx, id); !errors.Is(err, blob.ErrInvalidID) {
			t.Errorf("Abort(%q) = %v", id, err)
		}
		if _, err := s.ReadUpload(ctx, id); !errors.Is(err, blob.ErrInvalidID) {
			t.Errorf("ReadUpload(%q) = %v", id, err)
		}
		if _, err := s.Append(ctx, id, 0); !errors.Is(err, blob.ErrInvalidID) {
			t.Errorf("Append(%q) = %v", id, err)
		}
	}
	id, _ := put(t, s, "payload")
	for _, d := range []digest.Digest{"sha256:../../etc/passwd", "sha256:../../etc/passwd.up", "sha256:../../etc/new"} {
		if size, err := s.Stat(ctx, d); err == nil {
			t.Errorf("Stat(%s) = %d", d, size)
		}
		if f, err := s.Open(ctx, d); err == nil {
			f.Close()
			t.Errorf("Open(%s) succeeded", d)
		}
		if err := s.Delete(ctx, d); err == nil {
			t.Errorf("Delete(%s) succeeded", d)
		}
		if err := s.Commit(ctx, id, d, 7); err == nil {
			t.Errorf("Commit(%s) succeeded", d)
		}
	}
	if err := s.Abort(ctx, id); err != nil {
		t.Fatal(err)
	}

	if after := files(t, parent); !slices.Equal(after, before) {
		t.Fatalf("files under the parent changed:\n before %q\n after  %q", before, after)
	}
	for p, content := range planted {
		if b, err := os.ReadFile(p); err != nil || string(b) != content {
			t.Fatalf("%s = %q, %v; want %q", p, b, err, content)
		}
	}
}

// TestUploadsSkipsForeignFiles: files that no upload id could name (an
// editor's backup, a directory) are not reported as uploads to sweep.
func TestUploadsSkipsForeignFiles(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	id, _ := put(t, s, "x")
	for _, name := range []string{"README", "0123456789ABCDEF0123456789ABCDEF", id + ".tmp"} {
		if err := os.WriteFile(filepath.Join(root, "uploads", name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	us, err := s.Uploads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].ID != id {
		t.Fatalf("Uploads = %+v, want only %s", us, id)
	}
}
