package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgserver.Cleanup()
	os.Exit(code)
}

// openPostgres opens a store on a new, empty database of the shared test
// server; it skips t when PostgreSQL is not installed.
func openPostgres(t testing.TB, opt PostgresOptions) (*Store, string) {
	t.Helper()
	url := pgserver.Database(t)
	s, err := OpenPostgres(context.Background(), url, opt)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	return s, url
}

func TestPostgresSuite(t *testing.T) {
	pgserver.Require(t)
	metatest.Run(t, func(t *testing.T) meta.Store {
		s, _ := openPostgres(t, PostgresOptions{})
		return s
	})
}

func TestAccessSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunAccess(t, func(t *testing.T) meta.AccessStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestPostgresConcurrentOpen: replicas starting at once on a new database
// each migrate it; the advisory lock makes every migration apply once and
// no replica fails.
func TestPostgresConcurrentOpen(t *testing.T) {
	url := pgserver.Database(t)
	open := func() (*Store, error) {
		return OpenPostgres(context.Background(), url, PostgresOptions{MaxConns: 2})
	}
	openConcurrently(t, "postgres", 8, open)
	// Opening an up-to-date database applies nothing.
	openConcurrently(t, "postgres", 1, open)
}

// TestPostgresMigrationAtomic: a migration that fails half-way leaves
// nothing of itself behind, and is not recorded.
func TestPostgresMigrationAtomic(t *testing.T) {
	db, err := sql.Open("pgx", pgserver.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	ms := []migration{
		{version: 1, name: "0001_ok.sql", sql: "CREATE TABLE first (x INTEGER)"},
		{version: 2, name: "0002_bad.sql", sql: "CREATE TABLE second (x INTEGER); INSERT INTO second VALUES (1); SELECT no_such_function()"},
	}
	err = applyMigrations(ctx, db, pgDialect, ms)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Fatalf("applyMigrations = %v, want an error naming 0002_bad.sql", err)
	}
	var first, second sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('first')::text, to_regclass('second')::text`).Scan(&first, &second); err != nil {
		t.Fatal(err)
	}
	if !first.Valid || second.Valid {
		t.Fatalf("tables after a failed migration: first %v, second %v; want only first", first, second)
	}
	var versions []int
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if !reflect.DeepEqual(versions, []int{1}) {
		t.Fatalf("recorded migrations %v, want [1]", versions)
	}
}

// TestPostgresPoolQueues: with every pooled connection busy, an operation
// waits for one — until its context or the store's timeout ends — instead
// of failing at once, and proceeds as soon as a connection is freed.
func TestPostgresPoolQueues(t *testing.T) {
	const timeout = 600 * time.Millisecond
	s, _ := openPostgres(t, PostgresOptions{MaxConns: 2, Timeout: timeout})
	defer s.Close()
	ctx := context.Background()
	if err := s.CommitBlob(ctx, "r", digest.FromString("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	held := make([]*sql.Conn, 2)
	for i := range held {
		c, err := s.w.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held[i] = c
		defer c.Close()
	}

	// The store's timeout bounds the wait of a caller without a deadline.
	start := time.Now()
	_, err := s.BlobSize(ctx, "r", digest.FromString("x"))
	if waited := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || waited < timeout*9/10 {
		t.Fatalf("BlobSize on an exhausted pool: %v after %s; want a deadline after about %s", err, waited, timeout)
	}
	if !meta.IsUnavailable(err) {
		t.Fatalf("BlobSize on an exhausted pool: %v; want it marked meta.ErrUnavailable", err)
	}
	// A shorter caller deadline ends the wait sooner.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start = time.Now()
	err = s.CommitBlob(short, "r", digest.FromString("y"), 1, "")
	cancel()
	if waited := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || waited < 90*time.Millisecond || waited > timeout {
		t.Fatalf("CommitBlob with a 100ms deadline: %v after %s", err, waited)
	}

	// A queued operation proceeds once a connection is released.
	type result struct {
		size   int64
		err    error
		waited time.Duration
	}
	done := make(chan result, 1)
	start = time.Now()
	go func() {
		size, err := s.BlobSize(ctx, "r", digest.FromString("x"))
		done <- result{size, err, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	held[0].Close()
	r := <-done
	if r.err != nil || r.size != 1 || r.waited < 200*time.Millisecond {
		t.Fatalf("queued BlobSize = %d, %v after %s; want 1 after the release at 200ms", r.size, r.err, r.waited)
	}
	if st := s.w.Stats(); st.WaitCount < 3 || st.MaxOpenConnections != 2 {
		t.Fatalf("pool stats %+v: want 3 waits on a pool of 2", st)
	}
}

// requireWaiting fails t if done yields within 300ms: the operation
// behind it should be blocked on a row lock.
func requireWaiting(t *testing.T, done <-chan error, msg string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: %v", msg, err)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestPostgresPutManifestWaitsForUnlink: a link being deleted by another
// transaction is not taken as present: PutManifest waits for that
// transaction and then refuses the manifest. (A plain SELECT would read
// the old row and commit a manifest over a link that is gone.)
func TestPostgresPutManifestWaitsForUnlink(t *testing.T) {
	s, _ := openPostgres(t, PostgresOptions{})
	defer s.Close()
	ctx := context.Background()
	m, layer := testManifest(t, s, "r")
	unlink, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlink.Rollback()
	if _, err := unlink.ExecContext(ctx, `DELETE FROM repository_blobs WHERE repo = $1 AND digest = $2`, "r", string(layer)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.PutManifest(ctx, m, []string{"v1"}) }()
	requireWaiting(t, done, "PutManifest did not wait for the concurrent unlink")
	if err := unlink.Commit(); err != nil {
		t.Fatal(err)
	}
	var missing *meta.MissingRefError
	if err := <-done; !errors.As(err, &missing) || missing.Ref.Digest != layer {
		t.Fatalf("PutManifest after the unlink committed: %v, want MissingRefError for %s", err, layer)
	}
}

// TestPostgresPutManifestLocksExisting: re-putting a stored manifest locks
// it, so a DeleteManifest waits for the put and then removes the tag the
// put set too, instead of leaving that tag pointing at nothing.
func TestPostgresPutManifestLocksExisting(t *testing.T) {
	s, _ := openPostgres(t, PostgresOptions{})
	defer s.Close()
	ctx := context.Background()
	m, _ := testManifest(t, s, "r")
	if err := s.PutManifest(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	// The put's transaction, held open after its INSERT … DO NOTHING and lock.
	put, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer put.Rollback()
	inserted, err := insertManifest(ctx, tx{tx: put, b: s.b}, m, nil, nil, now())
	if err != nil || inserted {
		t.Fatalf("insertManifest of a stored manifest = %v, %v; want false, nil", inserted, err)
	}
	if err := setTag(ctx, tx{tx: put, b: s.b}, "r", "v1", m.Digest, now()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.DeleteManifest(ctx, "r", m.Digest) }()
	requireWaiting(t, done, "DeleteManifest did not wait for the put holding the manifest")
	if err := put.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	if _, err := s.GetManifest(ctx, "r", "v1", false); !errors.Is(err, meta.ErrManifestNotFound) {
		t.Fatalf("tag v1 after the delete: %v, want ErrManifestNotFound", err)
	}
	requireNoDanglingTags(t, s)
}

func TestMigrationsMirror(t *testing.T) {
	sqlite, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if !reflect.DeepEqual(names(sqlite), names(pg)) {
		t.Fatalf("migrations differ: sqlite %v, postgres %v; every schema change needs both", names(sqlite), names(pg))
	}
}

func TestNumberPlaceholders(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT 1`:                                `SELECT 1`,
		`SELECT a FROM t WHERE b = ? AND c > ?`:   `SELECT a FROM t WHERE b = $1 AND c > $2`,
		`INSERT INTO t VALUES (?, 'set', ?)`:      `INSERT INTO t VALUES ($1, 'set', $2)`,
		`SELECT '?', ? WHERE x LIKE ? ESCAPE '\'`: `SELECT '?', $1 WHERE x LIKE $2 ESCAPE '\'`,
		`SELECT 'it''s ?', ?`:                     `SELECT 'it''s ?', $1`,
		`LIMIT ? OFFSET ?`:                        `LIMIT $1 OFFSET $2`,
	} {
		if got := numberPlaceholders(q); got != want {
			t.Errorf("numberPlaceholders(%q) = %q, want %q", q, got, want)
		}
	}
	b := &binder{d: pgDialect}
	if got := b.bind(`a = ? OR b = ?`); got != `a = $1 OR b = $2` || b.bind(`a = ? OR b = ?`) != got {
		t.Fatalf("bind = %q", got)
	}
	if got := (&binder{d: sqliteDialect}).bind(`a = ?`); got != `a = ?` {
		t.Fatalf("sqlite bind = %q", got)
	}
}

// TestPostgresRetries: a transaction that fails with a serialization
// failure or a deadlock is run again, a bounded number of times; other
// errors are returned at once.
func TestPostgresRetries(t *testing.T) {
	s, _ := openPostgres(t, PostgresOptions{})
	defer s.Close()
	ctx := context.Background()
	for _, c := range []struct {
		err       error
		failures  int
		wantCalls int
		wantErr   bool
	}{
		{&pgconn.PgError{Code: "40001"}, 2, 3, false},
		{&pgconn.PgError{Code: "40P01"}, 1, 2, false},
		{&pgconn.PgError{Code: "40001"}, 100, maxTxAttempts, true},
		{&pgconn.PgError{Code: "23505"}, 1, 1, true},
		{errors.New("plain"), 1, 1, true},
	} {
		calls := 0
		err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
			calls++
			if calls <= c.failures {
				return c.err
			}
			return nil
		})
		if calls != c.wantCalls || (err != nil) != c.wantErr {
			t.Errorf("%v failing %d times: %d calls, err %v; want %d calls, error %v", c.err, c.failures, calls, err, c.wantCalls, c.wantErr)
		}
	}
	// Pushes setting the same tags in opposite orders take their row locks
	// in one order (sorted), so none deadlocks.
	m, _ := testManifest(t, s, "r")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			tags := []string{"a", "b", "c"}
			if i%2 == 1 {
				tags = []string{"c", "b", "a"}
			}
			for range 25 {
				if err := s.PutManifest(ctx, m, tags); err != nil {
					t.Errorf("PutManifest(%q): %v", tags, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
