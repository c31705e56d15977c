package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDialect: ? placeholders; one writer connection whose BEGIN
// IMMEDIATE serializes writers (and migrations), so no row locks are needed.
var sqliteDialect = &dialect{
	name: "sqlite",
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
	busy:             sqliteBusy,
	likeFold:         func(col string) string { return col + ` LIKE ? ESCAPE '\'` },
	migrationFKOff:   `PRAGMA foreign_keys=OFF`,
	migrationFKOn:    `PRAGMA foreign_keys=ON`,
	migrationFKCheck: `PRAGMA foreign_key_check`,
	// Writers wait busy_timeout for the lock; still locked after that,
	// another process holds the file (a backup, a stuck tool).
	unavailable: sqliteBusy,
}

// sqliteBusy: SQLITE_BUSY or SQLITE_LOCKED (any extended code of them):
// another connection holds a lock this one needs.
func sqliteBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// SQLiteOptions tune OpenSQLiteWith.
type SQLiteOptions struct {
	// BusyTimeout is how long a statement waits for a lock another
	// process (or the single writer connection of another store on the
	// same file) holds, before it fails (default 10s).
	BusyTimeout time.Duration
}

// OpenSQLite opens (creating and migrating if needed) a SQLite database
// file with the default options.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	return OpenSQLiteWith(ctx, path, SQLiteOptions{})
}

// OpenSQLiteWith opens (creating and migrating if needed) a SQLite
// database file. Writes go through one connection with BEGIN IMMEDIATE, so
// writers queue on the database lock instead of failing with SQLITE_BUSY;
// reads use a pool of connections that WAL lets run beside the writer.
func OpenSQLiteWith(ctx context.Context, path string, opt SQLiteOptions) (*Store, error) {
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 10 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := restrictMode(path); err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	// Every pooled connection gets these (the driver runs busy_timeout
	// first). synchronous=FULL: a commit is on disk before we acknowledge a
	// push, even across a power loss, not only a process crash. WAL mode is
	// not among them: it is a property of the file, set once below.
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)",
		opt.BusyTimeout.Milliseconds())
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	if err := enableWAL(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := migrate(ctx, w, sqliteDialect); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	readers := 2 * runtime.GOMAXPROCS(0)
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxIdleTime(0)
	s, err := newStore(ctx, sqliteDialect, w, r, 0)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	return s, nil
}

// enableWAL puts the database file in WAL mode, which then stays with the
// file for every connection. Converting a file needs an exclusive lock,
// and SQLite answers SQLITE_BUSY at once, without its busy handler, when
// another connection reads the file meanwhile (as a second process does
// while it opens the same new file), so the conversion is retried. On a
// file already in WAL mode it changes nothing and takes no lock.
func enableWAL(ctx context.Context, db *sql.DB) error {
	return retryBusy(ctx, sqliteDialect, func() error {
		var mode string
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode); err != nil {
			return fmt.Errorf("journal_mode=WAL: %w", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("journal_mode is %q, want wal", mode)
		}
		return nil
	})
}

// restrictMode makes the database file readable by its owner only: it
// holds password and robot secret hashes. A new file is created 0600
// before SQLite opens it, because SQLite creates it 0644 and gives the
// -wal and -shm files it makes later the mode of the database file. An
// existing file (and its -wal and -shm) loses any group and other bits it
// has; that is best effort: a file another user owns keeps its mode and
// still opens, as it did before.
func restrictMode(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			_ = os.Chmod(p, fi.Mode().Perm()&0o700)
		}
	}
	return nil
}
