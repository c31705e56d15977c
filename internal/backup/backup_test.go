package backup

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// deployment is a data directory with a migrated database and n blobs,
// each with its row and bytes.
type deployment struct {
	dir   string
	db    *sql.DB // read-write, for the test to play the server
	blobs *blobfs.Store
	ds    []digest.Digest
}

func newDeployment(t *testing.T, n int) *deployment {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, sqliteFile))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := openSQLite(ctx, filepath.Join(dir, sqliteFile), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bs, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{dir: dir, db: db, blobs: bs}
	for i := range n {
		d.add(t, []byte(fmt.Sprintf("blob %d %s", i, strings.Repeat("x", i*100))))
	}
	return d
}

// add commits a blob's bytes and then its row, as a push does.
func (d *deployment) add(t *testing.T, b []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	dg := digest.FromBytes(b)
	id := blob.NewUploadID()
	w, err := d.blobs.Append(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.blobs.Commit(ctx, id, dg, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.Exec(`INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, 0)`, dg.String(), len(b)); err != nil {
		t.Fatal(err)
	}
	d.ds = append(d.ds, dg)
	return dg
}

// collect deletes a blob's row and then its bytes, as garbage collection
// does.
func (d *deployment) collect(t *testing.T, dg digest.Digest) {
	t.Helper()
	if _, err := d.db.Exec(`DELETE FROM blobs WHERE digest = ?`, dg.String()); err != nil {
		t.Fatal(err)
	}
	if err := d.blobs.Delete(context.Background(), dg); err != nil {
		t.Fatal(err)
	}
}

func (d *deployment) source(store blob.Store) Source {
	return Source{DataDir: d.dir, Blobs: store}
}

// hookStore calls before on every Open.
type hookStore struct {
	blob.Store
	before func(digest.Digest)
}

func (h hookStore) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	h.before(d)
	return h.Store.Open(ctx, d)
}

// A collection that deletes a blob after the database copy and before the
// blob is copied makes the backup take the database again: the new copy
// no longer references the blob, and the snapshot is consistent.
func TestBackupRetakesAfterCollection(t *testing.T) {
	dep := newDeployment(t, 5)
	victim := dep.ds[2]
	var once sync.Once
	store := hookStore{Store: dep.blobs, before: func(d digest.Digest) {
		if d == victim {
			once.Do(func() { dep.collect(t, victim) })
		}
	}}
	to := filepath.Join(t.TempDir(), "snap")
	res, err := Backup(context.Background(), dep.source(store), BackupOptions{To: to})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Errorf("%d database copies, want 2", res.Attempts)
	}
	m, err := ReadManifest(to)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Blobs) != 4 || m.Counts.Blobs != 4 {
		t.Errorf("snapshot has %d blobs, want 4", len(m.Blobs))
	}
	for _, b := range m.Blobs {
		if b.Digest == victim {
			t.Error("the collected blob is in the snapshot")
		}
	}
	// The blobs of the first attempt were not copied twice, nor counted
	// as found in the snapshot directory.
	if res.Linked != 4 || res.Skipped != 0 || res.Bytes != m.Counts.BlobBytes {
		t.Errorf("linked %d, skipped %d, %d bytes; want 4, 0 and %d", res.Linked, res.Skipped, res.Bytes, m.Counts.BlobBytes)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(context.Background(), RestoreOptions{From: to, DataDir: restored}); err != nil {
		t.Fatal(err)
	}
	bs, err := blobfs.New(restored)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Fsck(context.Background(), Source{DataDir: restored, Blobs: bs}, FsckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Consistent || rep.Counts.Blobs != 4 || len(rep.Orphans) != 0 {
		t.Errorf("restored: %+v", rep)
	}
}

// Bytes missing while the live database still has the row are lost, not
// collected: the backup fails naming them and leaves no snapshot.json.
func TestBackupFailsOnLostBlob(t *testing.T) {
	dep := newDeployment(t, 3)
	lost := dep.ds[1]
	if err := dep.blobs.Delete(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "snap")
	_, err := Backup(context.Background(), dep.source(dep.blobs), BackupOptions{To: to})
	if err == nil || !strings.Contains(err.Error(), "lost") || !strings.Contains(err.Error(), lost.String()) {
		t.Fatalf("backup with a lost blob: %v", err)
	}
	if _, err := ReadManifest(to); !errors.Is(err, ErrIncomplete) {
		t.Errorf("after a failed backup: %v, want ErrIncomplete", err)
	}
}

// A collection that never stops deleting under the backup (each database
// copy references a new blob that is collected before it is copied) ends
// it after Attempts copies, with an error.
func TestBackupGivesUp(t *testing.T) {
	dep := newDeployment(t, 4)
	var mu sync.Mutex
	doomed := map[digest.Digest]bool{dep.ds[0]: true}
	store := hookStore{Store: dep.blobs, before: func(d digest.Digest) {
		mu.Lock()
		defer mu.Unlock()
		if doomed[d] {
			dep.collect(t, d)
			doomed[dep.add(t, []byte("pushed during the backup "+d.String()))] = true
		}
	}}
	_, err := Backup(context.Background(), dep.source(store), BackupOptions{To: t.TempDir(), Attempts: 3})
	if err == nil || !strings.Contains(err.Error(), "3 times in a row") {
		t.Fatalf("backup under endless collection: %v", err)
	}
}

// Upload sessions are not in a snapshot.
func TestSnapshotDropsUploads(t *testing.T) {
	dep := newDeployment(t, 1)
	if _, err := dep.db.Exec(`INSERT INTO uploads (id, repo, received, created_at, updated_at) VALUES ('u1', 'r', 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	to := t.TempDir()
	if _, err := Backup(context.Background(), dep.source(dep.blobs), BackupOptions{To: to}); err != nil {
		t.Fatal(err)
	}
	db, err := openSQLite(context.Background(), filepath.Join(to, sqliteFile), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM uploads`).Scan(&n); err != nil || n != 0 {
		t.Errorf("uploads in the snapshot: %d, %v", n, err)
	}
}

func TestProgress(t *testing.T) {
	var plain, bar bytes.Buffer
	for _, p := range []*Progress{NewProgress(&plain, false), NewProgress(&bar, true)} {
		p.Start("blobs", 20, 20<<20)
		for range 20 {
			p.Add(1, 1<<20)
		}
		p.Finish()
	}
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 11 || lines[0] != "blobs 0/20, 0 B/20.0 MiB (0%)" || lines[10] != "blobs 20/20, 20.0 MiB/20.0 MiB (100%)" {
		t.Errorf("plain progress: %q", lines)
	}
	if strings.Contains(plain.String(), "\r") {
		t.Error("carriage return in plain progress")
	}
	if !strings.HasPrefix(bar.String(), "\r[") || !strings.Contains(bar.String(), "100% blobs 20/20") || !strings.HasSuffix(bar.String(), "\n") {
		t.Errorf("bar: %q", bar.String())
	}
	var nilp *Progress
	nilp.Start("x", 1, 1) // a nil Progress reports nothing
	nilp.Add(1, 1)
	nilp.Finish()
}

// The data directory's keys and certificate cache travel with the
// snapshot, and a corrupt one is refused.
func TestFilesTravel(t *testing.T) {
	dep := newDeployment(t, 1)
	want := map[string]string{"token.key": "token key", "session.key": "session key", "acme/example.org": "cert"}
	for p, body := range want {
		path := filepath.Join(dep.dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	to := t.TempDir()
	if _, err := Backup(context.Background(), dep.source(dep.blobs), BackupOptions{To: to}); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "r")
	if _, err := Restore(context.Background(), RestoreOptions{From: to, DataDir: restored}); err != nil {
		t.Fatal(err)
	}
	for p, body := range want {
		got, err := os.ReadFile(filepath.Join(restored, filepath.FromSlash(p)))
		if err != nil || string(got) != body {
			t.Errorf("%s restored as %q, %v", p, got, err)
		}
	}
	if err := os.WriteFile(filepath.Join(to, filesDir, "session.key"), []byte("other key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(context.Background(), RestoreOptions{From: to, DataDir: filepath.Join(t.TempDir(), "r2")})
	if err == nil || !strings.Contains(err.Error(), "file session.key is corrupt") {
		t.Errorf("restore with a corrupt key: %v", err)
	}
	for _, p := range []string{"../x", "/etc/passwd", "acme/../../x", "other", "token.key/"} {
		if validRel(p) {
			t.Errorf("validRel(%q)", p)
		}
	}
}
