package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/opencontainers/go-digest"
	_ "modernc.org/sqlite" // the "sqlite" driver
)

// The queries here read the schema of internal/meta/sqlstore directly,
// below meta.Store: they run on database files and read-only connections
// (a snapshot, a live file another process writes), which the store,
// opening read-write and migrating, must not touch.

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqliteURL is a connection string for the SQLite file at path; ro opens
// it read-only, which takes no lock a running server's writer waits for.
func sqliteURL(path string, ro bool) string {
	u := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)"
	if ro {
		u += "&mode=ro"
	}
	return u
}

// openSQLite opens an existing SQLite file (never creating one).
func openSQLite(ctx context.Context, path string, ro bool) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	db, err := sql.Open("sqlite", sqliteURL(path, ro))
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return db, nil
}

// openPostgres connects to the database at dbURL.
func openPostgres(ctx context.Context, dbURL string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, errors.New("database-url: cannot parse") // never quote the URL: it may hold a password
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return db, nil
}

// openLive opens src's database for reading, without any lock the running
// server needs.
func openLive(ctx context.Context, src Source) (*sql.DB, error) {
	if src.DatabaseURL != "" {
		return openPostgres(ctx, src.DatabaseURL)
	}
	return openSQLite(ctx, filepath.Join(src.DataDir, sqliteFile), true)
}

// listBlobs reads the blobs table in digest order.
func listBlobs(ctx context.Context, q queryer) ([]Blob, error) {
	rows, err := q.QueryContext(ctx, `SELECT digest, size FROM blobs ORDER BY digest`)
	if err != nil {
		return nil, fmt.Errorf("listing blobs: %w", err)
	}
	defer rows.Close()
	var out []Blob
	for rows.Next() {
		var b Blob
		var d string
		if err := rows.Scan(&d, &b.Size); err != nil {
			return nil, err
		}
		b.Digest = digest.Digest(d)
		out = append(out, b)
	}
	return out, rows.Err()
}

// countRows fills the counts of repositories, artifacts and tags; the blob
// counts come from the blob list.
func countRows(ctx context.Context, q queryer, blobs []Blob) (Counts, error) {
	var c Counts
	for _, x := range []struct {
		table string
		n     *int
	}{{"repositories", &c.Repositories}, {"manifests", &c.Artifacts}, {"tags", &c.Tags}} {
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+x.table).Scan(x.n); err != nil {
			return c, fmt.Errorf("counting %s: %w", x.table, err)
		}
	}
	c.Blobs = len(blobs)
	for _, b := range blobs {
		c.BlobBytes += b.Size
	}
	return c, nil
}

// blobRowsExist returns the digests of ds that have a row in the blobs
// table of the live database now.
func blobRowsExist(ctx context.Context, db *sql.DB, pg bool, ds []digest.Digest) (map[digest.Digest]bool, error) {
	q := `SELECT 1 FROM blobs WHERE digest = ?`
	if pg {
		q = strings.Replace(q, "?", "$1", 1)
	}
	out := map[digest.Digest]bool{}
	for _, d := range ds {
		var one int
		err := db.QueryRowContext(ctx, q, string(d)).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			out[d] = true
		}
	}
	return out, nil
}
