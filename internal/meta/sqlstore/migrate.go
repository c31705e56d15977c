package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := "migrations/" + dialect
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the dialect's pending migrations.
func migrate(ctx context.Context, db *sql.DB, d *dialect) error {
	ms, err := loadMigrations(d.name)
	if err != nil {
		return err
	}
	return applyMigrations(ctx, db, d, ms)
}

// applyMigrations applies each migration not yet recorded in
// schema_migrations in its own transaction, together with its record, so
// the schema is never half-applied. Each transaction first takes the
// dialect's migration lock (PostgreSQL: an advisory lock; SQLite: BEGIN
// IMMEDIATE on the writer connection), then checks the record, so several
// processes starting at once on a new database apply each migration once.
//
// On SQLite a process starting beside another may still be told "database
// is locked" where SQLite's busy handler does not wait (for instance while
// the other converts a new file to WAL mode, or opens a connection), so a
// transaction failing that way is run again, a bounded number of times.
func applyMigrations(ctx context.Context, db *sql.DB, d *dialect, ms []migration) error {
	b := &binder{d: d}
	locked := func(fn func(tx tx) error) error {
		return retryBusy(ctx, d, func() error { return lockedOnce(ctx, db, b, fn) })
	}
	if err := locked(func(tx tx) error {
		_, err := tx.exec(ctx, d.migrationsTable)
		return err
	}); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	for _, m := range ms {
		err := locked(func(tx tx) error {
			var n int
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// lockedOnce runs fn in one transaction that first takes the dialect's
// migration lock, with foreign keys off around it where the dialect says.
func lockedOnce(ctx context.Context, db *sql.DB, b *binder, fn func(tx tx) error) error {
	d := b.d
	conn, err := db.Conn(ctx) // the pragmas around the transaction need its connection
	if err != nil {
		return err
	}
	defer conn.Close()
	if d.migrationFKOff != "" {
		if _, err := conn.ExecContext(ctx, d.migrationFKOff); err != nil {
			return err
		}
		// On the way back to the pool the connection must enforce keys
		// again, or it is of no use: discard it if that fails.
		defer func() {
			if _, err := conn.ExecContext(context.WithoutCancel(ctx), d.migrationFKOn); err != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}
	t, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := tx{tx: t, b: b}
	if d.lockMigrations != "" {
		if _, err := tx.exec(ctx, d.lockMigrations); err != nil {
			t.Rollback()
			return fmt.Errorf("migration lock: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		t.Rollback()
		return err
	}
	if d.migrationFKCheck != "" {
		if err := noRows(ctx, tx, d.migrationFKCheck); err != nil {
			t.Rollback()
			return err
		}
	}
	return t.Commit()
}

// noRows fails if q returns a row (a foreign key violation, for the check
// after a migration).
func noRows(ctx context.Context, tx tx, q string) error {
	rows, err := tx.query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		_ = rows.Scan(vals...)
		var desc []string
		for i, c := range cols {
			desc = append(desc, fmt.Sprintf("%s=%v", c, *(vals[i].(*any))))
		}
		return fmt.Errorf("foreign key violated after the migration: %s", strings.Join(desc, " "))
	}
	return rows.Err()
}

// Bounds of retryBusy: about 5s of pauses in all, each at most 1s.
const (
	maxBusyAttempts = 12
	maxBusyPause    = time.Second
)

// retryBusy runs fn until it succeeds, fails with an error that is not the
// dialect's busy error, or has failed maxBusyAttempts times, pausing
// between attempts (doubling from 10ms, with jitter). fn must be safe to
// run again after it failed: a whole transaction, not a statement in one.
func retryBusy(ctx context.Context, d *dialect, fn func() error) error {
	pause := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || d.busy == nil || !d.busy(err) || attempt == maxBusyAttempts {
			return err
		}
		t := time.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, maxBusyPause)
	}
}
