package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationLockKey is the advisory lock that serializes berth's schema
// migrations on a PostgreSQL database ("berth" in ASCII).
const migrationLockKey = 0x6265727468

// pgDialect: $n placeholders; writers run concurrently (READ COMMITTED), so
// rows a write transaction relies on are locked with FOR SHARE, and
// migrations take a transaction-scoped advisory lock.
var pgDialect = &dialect{
	name:     "postgres",
	numbered: true,
	forShare: " FOR SHARE",
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
	lockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey),
	retryable:      pgRetryable,
	unavailable:    pgUnavailable,
	likeFold:       func(col string) string { return "lower(" + col + `) LIKE ? ESCAPE '\'` },
}

// pgRetryable: serialization failure (40001) or deadlock victim (40P01);
// PostgreSQL rolled the transaction back and it may be run again.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// pgUnavailable: the server could not be reached or let go of the
// connection (refused, reset, network timeout, the connection closed
// under the query), or says it cannot serve now: class 08 (connection
// exception), too_many_connections, query_canceled (statement_timeout),
// lock_not_available (lock_timeout), admin_shutdown, crash_shutdown,
// cannot_connect_now.
func pgUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "53300", "57014", "55P03", "57P01", "57P02", "57P03":
			return true
		}
		return strings.HasPrefix(pe.Code, "08")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return pgconn.Timeout(err) || errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED)
}

// PostgresOptions tune the connection pool of OpenPostgres.
type PostgresOptions struct {
	// MaxConns bounds the pool (default 20). When every connection is busy,
	// further operations wait for one, up to Timeout.
	MaxConns int
	// Timeout bounds each operation, including the wait for a connection
	// (default 30s); the caller's context may end it sooner.
	Timeout time.Duration
}

// OpenPostgres connects to the PostgreSQL database at url (a
// postgres:// URL), applies pending migrations and returns the store.
// Several processes may open one database at once: migrations are
// serialized by an advisory lock and each is applied exactly once.
func OpenPostgres(ctx context.Context, url string, opt PostgresOptions) (*Store, error) {
	if opt.MaxConns <= 0 {
		opt.MaxConns = 20
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	cfg, err := pgx.ParseConfig(url) // its errors never include the password
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "berth"
	}
	db := stdlib.OpenDB(*cfg)
	// One pool for reads and writes. Idle connections are kept up to the
	// bound (database/sql keeps only 2 by default, which churns connections
	// under load) and recycled now and then, e.g. after a failover.
	db.SetMaxOpenConns(opt.MaxConns)
	db.SetMaxIdleConns(opt.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	// Migrations are bounded by ctx only: a replica waiting on the lock for
	// another's long migration should wait, not fail.
	where := fmt.Sprintf("postgres %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	if err := migrate(ctx, db, pgDialect); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	s, err := newStore(ctx, pgDialect, db, db, opt.Timeout)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return s, nil
}
