package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// dialect is what differs between the databases sqlstore runs on. Queries
// are written once, with ? placeholders, in the SQL that SQLite and
// PostgreSQL share, and run through a binder (Store.exec, queryRow, query,
// and the tx type) that rewrites them for the dialect. The rest of the
// difference is the few clauses and statements that exist in one database
// only, kept here, and the schema (types, collations), kept in the
// migrations directory named after the dialect.
type dialect struct {
	// name is also the directory of the dialect's migrations.
	name string
	// numbered: placeholders are $1, $2, … instead of ?.
	numbered bool
	// forShare is appended to a SELECT in a write transaction so the rows it
	// read (a referenced blob link, an existing manifest) cannot be deleted
	// or changed before the transaction commits. Empty where writers are
	// serialized anyway (SQLite: one writer connection, BEGIN IMMEDIATE).
	forShare string
	// migrationsTable creates the table that records applied migrations.
	migrationsTable string
	// lockMigrations, run first in each migration transaction, serializes
	// schema changes across processes; empty where BEGIN already does.
	lockMigrations string
	// migrationFKOff and migrationFKOn, run on the migration's connection
	// before its transaction and after it, switch foreign key enforcement
	// off around it, so that a migration may rebuild a referenced table
	// (SQLite's way to change a table: create, copy, drop, rename; with
	// the keys on, the drop would cascade to the referencing rows).
	// migrationFKCheck, run before commit, lists any row the migration
	// left violating a foreign key; the migration fails if there is one.
	// Empty where tables change in place (PostgreSQL).
	migrationFKOff, migrationFKOn, migrationFKCheck string
	// retryable reports whether a failed write transaction may simply be run
	// again (serialization failure, deadlock victim); nil: never.
	retryable func(error) bool
	// busy reports an error that only says another connection holds a
	// lock (SQLite: SQLITE_BUSY, SQLITE_LOCKED). Opening the database
	// retries such errors for a while; nil where the database waits for
	// its locks itself (PostgreSQL).
	busy func(error) bool
	// likeFold is the condition "col contains the pattern bound to ?",
	// ignoring the case of ASCII letters; the caller binds a pattern made
	// by containsFold. SQLite's LIKE folds ASCII case itself (and can use a
	// NOCASE index); PostgreSQL's does not, so it compares lower(col), which
	// folds ASCII only under the names' "C" collation, and is indexed.
	likeFold func(col string) string
	// unavailable reports an error that says the database could not answer
	// (unreachable, shutting down, locked past the busy timeout) rather
	// than that the operation is wrong; Store.classify adds timeouts.
	unavailable func(error) bool
}

// maxCachedQueries bounds the binder's cache. The package's queries are
// constants or combine a few optional clauses, so they all fit; a query
// built with, say, a variable-length IN list past the bound is rebound on
// each use (a single pass over the text).
const maxCachedQueries = 4096

// binder rewrites queries for one store's dialect, once per distinct query
// text. The hot read paths are prepared statements, rewritten once when
// newStore prepares them.
type binder struct {
	d     *dialect
	cache sync.Map // query with ? → query with $n
	n     atomic.Int64
}

func (b *binder) bind(q string) string {
	if !b.d.numbered {
		return q
	}
	if v, ok := b.cache.Load(q); ok {
		return v.(string)
	}
	r := numberPlaceholders(q)
	if b.n.Load() < maxCachedQueries {
		if _, loaded := b.cache.LoadOrStore(q, r); !loaded {
			b.n.Add(1)
		}
	}
	return r
}

// numberPlaceholders turns each ? outside a string literal into $1, $2, ….
// (A ? in a comment or a quoted identifier would be turned too: queries
// have none, nor PostgreSQL's jsonb ? operators.)
func numberPlaceholders(q string) string {
	if strings.IndexByte(q, '?') < 0 {
		return q
	}
	var sb strings.Builder
	sb.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted // a doubled '' toggles twice
		case c == '?' && !quoted:
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// tx is a write transaction whose queries are rewritten for the dialect.
type tx struct {
	tx *sql.Tx
	b  *binder
}

func (t tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.b.bind(q), args...)
}

func (t tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.b.bind(q), args...)
}

func (t tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.b.bind(q), args...)
}

// forShare returns q with the dialect's row-locking clause appended.
func (t tx) forShare(q string) string { return q + t.b.d.forShare }
