package sqlstore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/oci"
)

func openSQLite(t testing.TB, path string) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	return s
}

func TestSQLiteSuite(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "meta.db"))
	})
}

// appliedMigrations returns the versions recorded in schema_migrations.
func appliedMigrations(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.r.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func wantMigrations(t *testing.T, dialect string) []int {
	t.Helper()
	ms, err := loadMigrations(dialect)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatalf("no %s migrations embedded", dialect)
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.version)
	}
	return vs
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "meta.db")
	s := openSQLite(t, path)

	layer := digest.FromString("layer")
	if err := s.CommitBlob(ctx, "r", layer, 5, ""); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		string(layer) + `","size":5},"layers":[]}`)
	m := &meta.Manifest{Repo: "r", Digest: digest.FromBytes(body), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(body)), Body: body, Refs: []oci.Ref{{Digest: layer, Size: 5, Kind: oci.RefBlob}}}
	if err := s.PutManifest(ctx, m, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	if err := s.CreateUpload(ctx, meta.Upload{ID: id, Repo: "r", Offset: 0, HashState: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceUpload(ctx, id, 0, 42, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	want := wantMigrations(t, "sqlite")
	for round := range 2 {
		s = openSQLite(t, path)
		if got := appliedMigrations(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: applied migrations %v, want %v", round, got, want)
		}
		if size, err := s.BlobSize(ctx, "r", layer); err != nil || size != 5 {
			t.Fatalf("round %d: BlobSize = %d, %v", round, size, err)
		}
		got, err := s.GetManifest(ctx, "r", "v1", true)
		if err != nil || got.Digest != m.Digest || string(got.Body) != string(body) || got.MediaType != m.MediaType {
			t.Fatalf("round %d: GetManifest = %+v, %v", round, got, err)
		}
		u, err := s.GetUpload(ctx, "r", id)
		if err != nil || u.Offset != 42 || string(u.HashState) != "state" {
			t.Fatalf("round %d: GetUpload = %+v, %v", round, u, err)
		}
		if tags, err := s.Tags(ctx, "r", "", 10); err != nil || !reflect.DeepEqual(tags, []string{"v1"}) {
			t.Fatalf("round %d: Tags = %q, %v", round, tags, err)
		}
		// Running the migrations again on an up-to-date database is a no-op.
		if err := migrate(ctx, s.w, sqliteDialect); err != nil {
			t.Fatalf("round %d: migrate again: %v", round, err)
		}
		if got := appliedMigrations(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: applied migrations after migrate %v, want %v", round, got, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLiteConcurrentOpen: processes starting at once on a new file each
// migrate it; every migration must be applied exactly once.
func TestSQLiteConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	openConcurrently(t, "sqlite", 4, func() (*Store, error) { return OpenSQLite(context.Background(), path) })
}

// TestSQLiteOpenWhileFileIsWritten: a process opening a new database file
// while another connection is about to write it (as a second berth
// process is, converting the same new file to WAL mode) used to fail at
// once with "database is locked": the conversion reads the file, then
// needs the write lock another holds, and SQLite does not wait for a lock
// there (it could deadlock), whatever the busy timeout. The open must wait
// for the other writer and succeed.
func TestSQLiteOpenWhileFileIsWritten(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	writer, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the file's RESERVED lock
	if err != nil {
		t.Fatal(err)
	}
	const hold = 300 * time.Millisecond
	released := time.AfterFunc(hold, func() { writer.Rollback() })
	defer released.Stop()
	start := time.Now()
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("OpenSQLite while another connection holds the write lock: %v", err)
	}
	defer s.Close()
	if waited := time.Since(start); waited < hold*9/10 {
		t.Fatalf("opened after %s, before the writer let go at %s: the test did not hold the lock", waited, hold)
	}
	if got, want := appliedMigrations(t, s), wantMigrations(t, "sqlite"); !reflect.DeepEqual(got, want) {
		t.Fatalf("applied migrations %v, want %v", got, want)
	}
	var mode string
	if err := s.r.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// TestSQLiteBusyTimeoutOnEveryConnection: the busy timeout is a property of
// a connection, not of the file, so every pooled connection (the writer
// and each reader) must carry it.
func TestSQLiteBusyTimeoutOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLiteWith(ctx, filepath.Join(t.TempDir(), "meta.db"), SQLiteOptions{BusyTimeout: 1234 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i, db := range []*sql.DB{s.w, s.r, s.r, s.r} {
		c, err := db.Conn(ctx) // held, so each reader is a new connection
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var ms int
		if err := c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&ms); err != nil || ms != 1234 {
			t.Fatalf("connection %d: busy_timeout = %d, %v; want 1234", i, ms, err)
		}
	}
}

// TestSQLiteFileModes: meta.db holds password hashes, so it and the -wal
// and -shm files SQLite makes beside it are readable by the owner only,
// whatever the umask lets through; an existing, wider file is narrowed.
func TestSQLiteFileModes(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	ctx := context.Background()
	dir := t.TempDir()
	check := func(path string) {
		t.Helper()
		s := openSQLite(t, path)
		defer s.Close()
		if err := s.CommitBlob(ctx, "r", digest.FromString("x"), 1, ""); err != nil { // makes the -wal
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want -rw-------", filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	check(filepath.Join(dir, "new", "meta.db"))

	old := filepath.Join(dir, "old.db")
	if err := os.WriteFile(old, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	check(old)
}

// openConcurrently opens n stores on one new database at once; every open
// must succeed, apply each migration exactly once between them, and give a
// working store. The stores are closed when t ends.
func openConcurrently(t *testing.T, dialect string, n int, open func() (*Store, error)) []*Store {
	t.Helper()
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = open()
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	if got, want := appliedMigrations(t, stores[0]), wantMigrations(t, dialect); !reflect.DeepEqual(got, want) {
		t.Fatalf("applied migrations %v, want %v", got, want)
	}
	for i, s := range stores {
		if err := s.CommitBlob(context.Background(), "r", digest.FromString("x"), 1, ""); err != nil {
			t.Fatalf("store %d: CommitBlob: %v", i, err)
		}
	}
	return stores
}

func TestAccessSuiteSQLite(t *testing.T) {
	metatest.RunAccess(t, func(t *testing.T) meta.AccessStore {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
