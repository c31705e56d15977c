package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/test/pgserver"
)

func requireUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !meta.IsUnavailable(err) {
		t.Fatalf("%s: %v; want an error marked meta.ErrUnavailable", what, err)
	}
}

// TestSQLiteLockedIsUnavailable: a write that cannot get the file's lock
// within the busy timeout, because another process holds it, fails with
// meta.ErrUnavailable (a 503 for the client, not a 500); reads go on
// beside the lock (WAL); the store's own "no such thing" errors are not
// marked; once the lock is released, writes succeed again.
func TestSQLiteLockedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := OpenSQLiteWith(ctx, path, SQLiteOptions{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := digest.FromString("x")
	if err := s.CommitBlob(ctx, "r/a", x, 1, ""); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()

	start := time.Now()
	err = s.CommitBlob(ctx, "r/a", digest.FromString("y"), 1, "")
	requireUnavailable(t, "CommitBlob while another process holds the write lock", err)
	if waited := time.Since(start); waited < 90*time.Millisecond {
		t.Fatalf("CommitBlob failed after %s, before the busy timeout (100ms)", waited)
	}
	requireUnavailable(t, "CreateProject", s.CreateProject(ctx, &meta.Project{Name: "p"}))
	requireUnavailable(t, "CreateUpload", s.CreateUpload(ctx, meta.Upload{ID: "u", Repo: "r/a"}))
	if size, err := s.BlobSize(ctx, "r/a", x); err != nil || size != 1 {
		t.Fatalf("BlobSize beside the lock = %d, %v", size, err)
	}
	if _, err := s.GetProjectByName(ctx, "nope"); !errors.Is(err, meta.ErrNotFound) || meta.IsUnavailable(err) {
		t.Fatalf("GetProjectByName of a missing project: %v", err)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBlob(ctx, "r/a", digest.FromString("y"), 1, ""); err != nil {
		t.Fatalf("CommitBlob after the lock was released: %v", err)
	}
}

// TestPostgresLockedIsUnavailable: an operation blocked on a lock another
// session holds until the store's timeout (--db-timeout) ends fails with
// meta.ErrUnavailable, and still says it was a deadline.
func TestPostgresLockedIsUnavailable(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, url := openPostgres(t, PostgresOptions{MaxConns: 2, Timeout: timeout})
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateUser(ctx, &meta.User{Username: "u", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.ExecContext(ctx, `LOCK TABLE users, projects IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.GetUserByName(ctx, "u")
	requireUnavailable(t, "GetUserByName of a locked table", err)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < timeout*9/10 {
		t.Fatalf("GetUserByName: %v after %s; want the deadline after about %s", err, time.Since(start), timeout)
	}
	requireUnavailable(t, "CreateProject on a locked table", s.CreateProject(ctx, &meta.Project{Name: "p"}))
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUserByName(ctx, "u"); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// A caller that went away is not an unavailable database.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.GetUserByName(gone, "u"); err == nil || meta.IsUnavailable(err) {
		t.Fatalf("GetUserByName with a cancelled context: %v", err)
	}
}

// TestPostgresDownIsUnavailable: with the server gone (connection refused
// or cut), operations fail with meta.ErrUnavailable.
func TestPostgresDownIsUnavailable(t *testing.T) {
	pg := pgserver.ForTest(t)
	url, err := pg.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenPostgres(t.Context(), url, PostgresOptions{MaxConns: 2, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.GetProjectByName(ctx, "p"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetProjectByName with the server up: %v", err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 3 { // a pooled connection first, then new ones
		_, err := s.GetProjectByName(ctx, "p")
		requireUnavailable(t, "GetProjectByName with the server stopped", err)
	}
	requireUnavailable(t, "CommitBlob with the server stopped", s.CommitBlob(ctx, "r/a", digest.FromString("x"), 1, ""))
}
