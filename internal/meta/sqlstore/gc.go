package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Garbage collection (meta.GCStore, meta.BlobReviver). internal/gc holds
// the protocol; here are its locks. Its manifest deletes and unlinks go
// through the one delete and unlink paths (deleteManifest, unlinkBlob) in
// a transaction of their repository's project (inAccountedTx), so quotas
// stay exact. On PostgreSQL every delete of the
// sweep first locks the rows it may delete with FOR UPDATE SKIP LOCKED —
// a row a push holds (a link a manifest's reference check locked, a blob
// row a new link's foreign key check locked, a manifest being tagged) is
// in use and left for the next run, and the collector never waits for a
// push, so it can deadlock with none — and then checks, in a statement of
// its own (whose snapshot sees everything committed before the locks were
// taken), that what it locked is still garbage. On SQLite the single
// writer serializes everything, and the same statements run without the
// locking clauses.

var (
	_ meta.GCStore     = (*Store)(nil)
	_ meta.BlobReviver = (*Store)(nil)
)

// gcChunk bounds the digests of one IN list.
const gcChunk = 500

// lockSkip returns q locking the rows it selects, skipping rows another
// transaction holds.
func (t tx) lockSkip(q string) string {
	if t.b.d.forShare == "" {
		return q
	}
	return q + " FOR UPDATE SKIP LOCKED"
}

// lockWait returns q locking the rows it selects, waiting for them.
func (t tx) lockWait(q string) string {
	if t.b.d.forShare == "" {
		return q
	}
	return q + " FOR UPDATE"
}

// refuseCollected is CommitBlob's check, after it linked d (so after the
// link's foreign key check locked d's row): garbage collection has deleted
// d's row and queued, or done, the deletion of its bytes.
func refuseCollected(ctx context.Context, tx tx, d digest.Digest) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM blob_deletions WHERE digest = ?`, string(d)).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return meta.ErrBlobDeletionPending
	}
	return nil
}

// retryFK runs the transaction tx, again when it failed on a foreign key
// violation: on PostgreSQL, a link whose blob row garbage collection
// deleted while the link's check waited for it. Run again, the blob row
// is inserted anew, and refuseCollected sees the queued deletion.
func (s *Store) retryFK(tx func() error) error {
	for attempt := 1; ; attempt++ {
		err := tx()
		var pe *pgconn.PgError
		if attempt == 3 || !errors.As(err, &pe) || pe.Code != "23503" {
			return err
		}
	}
}

// BlobDeletionPending implements meta.BlobReviver.
func (s *Store) BlobDeletionPending(ctx context.Context, d digest.Digest) (_ bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM blob_deletions WHERE digest = ?`, string(d)).Scan(&n)
	return n > 0, err
}

// ReviveBlob implements meta.BlobReviver. The queue row is locked as
// GCDeleteBytes locks it, waiting for a deletion in progress.
func (s *Store) ReviveBlob(ctx context.Context, d digest.Digest, ensure func(context.Context) error) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		var one int
		err := tx.queryRow(ctx, tx.lockWait(`SELECT 1 FROM blob_deletions WHERE digest = ?`), string(d)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ensure(ctx); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `DELETE FROM blob_deletions WHERE digest = ?`, string(d))
		return err
	})
}

// GCManifests implements meta.GCStore. The scan is bounded by ctx only:
// on a large store it may outlast the store's per-operation timeout.
func (s *Store) GCManifests(ctx context.Context, fn func(repo string, ms []meta.GCManifest) error) (err error) {
	defer func() { err = s.classify(err) }()
	rows, err := s.query(ctx, `SELECT m.repo, m.digest, COALESCE(m.subject, ''), m.created_at,
		CASE WHEN EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest) THEN 1 ELSE 0 END
		FROM manifests m ORDER BY m.repo, m.digest`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var repo string
	var group []meta.GCManifest
	untagged := false
	flush := func() error {
		if !untagged {
			return nil
		}
		if err := s.gcChildren(ctx, repo, group); err != nil {
			return err
		}
		return fn(repo, group)
	}
	for rows.Next() {
		var r, d, subject string
		var created int64
		var tagged int
		if err := rows.Scan(&r, &d, &subject, &created, &tagged); err != nil {
			return err
		}
		if r != repo {
			if err := flush(); err != nil {
				return err
			}
			repo, group, untagged = r, nil, false
		}
		group = append(group, meta.GCManifest{Digest: digest.Digest(d), Subject: digest.Digest(subject),
			Tagged: tagged != 0, CreatedAt: ms2t(created)})
		untagged = untagged || tagged == 0
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

// gcChildren fills in the index children of the manifests of repo.
func (s *Store) gcChildren(ctx context.Context, repo string, ms []meta.GCManifest) error {
	rows, err := s.query(ctx, `SELECT manifest, ref FROM manifest_refs WHERE repo = ? AND kind = 1`, repo)
	if err != nil {
		return err
	}
	defer rows.Close()
	at := make(map[digest.Digest]int, len(ms))
	for i := range ms {
		at[ms[i].Digest] = i
	}
	for rows.Next() {
		var m, ref string
		if err := rows.Scan(&m, &ref); err != nil {
			return err
		}
		if i, ok := at[digest.Digest(m)]; ok {
			ms[i].Children = append(ms[i].Children, digest.Digest(ref))
		}
	}
	return rows.Err()
}

// GCRefs implements meta.GCStore.
func (s *Store) GCRefs(ctx context.Context, repo string, fn func(manifest, ref digest.Digest) error) (err error) {
	defer func() { err = s.classify(err) }()
	rows, err := s.query(ctx, `SELECT manifest, ref FROM manifest_refs WHERE repo = ?`, repo)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var m, ref string
		if err := rows.Scan(&m, &ref); err != nil {
			return err
		}
		if err := fn(digest.Digest(m), digest.Digest(ref)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// GCUnreferencedLinks implements meta.GCStore.
func (s *Store) GCUnreferencedLinks(ctx context.Context, before time.Time, fn func(meta.GCLink) error) (err error) {
	defer func() { err = s.classify(err) }()
	rows, err := s.query(ctx, `SELECT rb.repo, rb.digest, b.size, rb.created_at
		FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
		WHERE rb.created_at < ? AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = rb.repo AND r.ref = rb.digest)`,
		before.UnixMilli())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return err
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanLink(row interface{ Scan(...any) error }) (meta.GCLink, error) {
	var l meta.GCLink
	var d string
	var created int64
	err := row.Scan(&l.Repo, &d, &l.Size, &created)
	l.Digest, l.CreatedAt = digest.Digest(d), ms2t(created)
	return l, err
}

// chunks calls fn with ds gcChunk at a time.
func chunks(ds []digest.Digest, fn func(args []any) error) error {
	for len(ds) > 0 {
		n := min(len(ds), gcChunk)
		args := make([]any, n)
		for i, d := range ds[:n] {
			args[i] = string(d)
		}
		if err := fn(args); err != nil {
			return err
		}
		ds = ds[n:]
	}
	return nil
}

// GCLinks implements meta.GCStore.
func (s *Store) GCLinks(ctx context.Context, repo string, ds []digest.Digest) (_ []meta.GCLink, err error) {
	defer func() { err = s.classify(err) }()
	var out []meta.GCLink
	err = chunks(ds, func(args []any) error {
		rows, err := s.query(ctx, `SELECT rb.repo, rb.digest, b.size, rb.created_at
			FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
			WHERE rb.repo = ? AND rb.digest IN `+inList(len(args)), append([]any{repo}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLink(rows)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

// GCLinkCounts implements meta.GCStore.
func (s *Store) GCLinkCounts(ctx context.Context, ds []digest.Digest) (_ map[digest.Digest]int, err error) {
	defer func() { err = s.classify(err) }()
	out := make(map[digest.Digest]int, len(ds))
	err = chunks(ds, func(args []any) error {
		rows, err := s.query(ctx, `SELECT digest, COUNT(*) FROM repository_blobs WHERE digest IN `+inList(len(args))+
			` GROUP BY digest`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			var n int
			if err := rows.Scan(&d, &n); err != nil {
				return err
			}
			out[digest.Digest(d)] = n
		}
		return rows.Err()
	})
	return out, err
}

// GCUnlinkedBlobs implements meta.GCStore.
func (s *Store) GCUnlinkedBlobs(ctx context.Context, fn func(meta.GCBlob) error) (err error) {
	defer func() { err = s.classify(err) }()
	rows, err := s.query(ctx, `SELECT digest, size FROM blobs b
		WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b meta.GCBlob
		var d string
		if err := rows.Scan(&d, &b.Size); err != nil {
			return err
		}
		b.Digest = digest.Digest(d)
		if err := fn(b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// GCPendingDeletions implements meta.GCStore.
func (s *Store) GCPendingDeletions(ctx context.Context, after digest.Digest, limit int) (_ []meta.GCBlob, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT digest, size FROM blob_deletions WHERE deleted_at = 0 AND digest > ?
		ORDER BY digest LIMIT ?`, string(after), limit)
	if err != nil {
		return nil, err
	}
	return scanGCBlobs(rows)
}

func scanGCBlobs(rows *sql.Rows) ([]meta.GCBlob, error) {
	defer rows.Close()
	var out []meta.GCBlob
	for rows.Next() {
		var b meta.GCBlob
		var d string
		if err := rows.Scan(&d, &b.Size); err != nil {
			return nil, err
		}
		b.Digest = digest.Digest(d)
		out = append(out, b)
	}
	return out, rows.Err()
}

// errNotGarbage rolls back a sweep transaction that found its row in use.
var errNotGarbage = errors.New("no longer garbage")

// protectAll is the tag guard of garbage collection's manifest deletes: a
// manifest that has a tag at commit is not deleted.
func protectAll(string) bool { return true }

// GCDeleteManifest implements meta.GCStore.
func (s *Store) GCDeleteManifest(ctx context.Context, repo string, d digest.Digest, before time.Time) (bool, error) {
	err := s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error {
		var created int64
		var subject string
		err := tx.queryRow(ctx, tx.lockSkip(`SELECT created_at, COALESCE(subject, '') FROM manifests WHERE repo = ? AND digest = ?`),
			repo, string(d)).Scan(&created, &subject)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotGarbage // gone, or in use
		}
		if err != nil {
			return err
		}
		if created >= before.UnixMilli() {
			return errNotGarbage
		}
		var used int
		err = tx.queryRow(ctx, `SELECT CASE WHEN
			EXISTS (SELECT 1 FROM tags WHERE repo = ? AND digest = ?)
			OR EXISTS (SELECT 1 FROM manifest_refs WHERE repo = ? AND ref = ? AND kind = 1)
			OR EXISTS (SELECT 1 FROM manifests WHERE repo = ? AND digest = ?) THEN 1 ELSE 0 END`,
			repo, string(d), repo, string(d), repo, subject).Scan(&used)
		if err != nil {
			return err
		}
		if used != 0 {
			return errNotGarbage
		}
		var immutable *meta.ImmutableTagError
		if err := deleteManifest(ctx, tx, u, repo, d, protectAll); errors.As(err, &immutable) {
			return errNotGarbage
		} else if err != nil {
			return err
		}
		return nil
	})
	if errors.Is(err, errNotGarbage) {
		return false, nil
	}
	return err == nil, err
}

// GCUnlink implements meta.GCStore.
func (s *Store) GCUnlink(ctx context.Context, repo string, ds []digest.Digest, before time.Time) ([]digest.Digest, error) {
	var out []digest.Digest
	err := s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error {
		out = out[:0]
		for _, d := range ds {
			var one int
			err := tx.queryRow(ctx, tx.lockSkip(`SELECT 1 FROM repository_blobs WHERE repo = ? AND digest = ? AND created_at < ?`),
				repo, string(d), before.UnixMilli()).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				continue // gone, young, or in use
			}
			if err != nil {
				return err
			}
			var refs int
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM manifest_refs WHERE repo = ? AND ref = ?`,
				repo, string(d)).Scan(&refs); err != nil {
				return err
			}
			if refs > 0 {
				continue
			}
			if err := unlinkBlob(ctx, tx, u, repo, d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GCDeleteBlobs implements meta.GCStore.
func (s *Store) GCDeleteBlobs(ctx context.Context, ds []digest.Digest) ([]meta.GCBlob, error) {
	var out []meta.GCBlob
	err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
		out = out[:0]
		return chunks(ds, func(args []any) error {
			rows, err := tx.query(ctx, tx.lockSkip(`SELECT digest, size FROM blobs WHERE digest IN `+inList(len(args))), args...)
			if err != nil {
				return err
			}
			locked, err := scanGCBlobs(rows)
			if err != nil || len(locked) == 0 {
				return err
			}
			linked, err := gcLinked(ctx, tx, locked)
			if err != nil {
				return err
			}
			t := now()
			for _, b := range locked {
				if linked[b.Digest] {
					continue
				}
				if _, err := tx.exec(ctx, `DELETE FROM blobs WHERE digest = ?`, string(b.Digest)); err != nil {
					return err
				}
				if _, err := tx.exec(ctx, `INSERT INTO blob_deletions (digest, size, queued_at) VALUES (?, ?, ?)
					ON CONFLICT (digest) DO UPDATE SET size = excluded.size, queued_at = excluded.queued_at,
					deleted_at = 0, attempts = 0, last_error = ''`, string(b.Digest), b.Size, t); err != nil {
					return err
				}
				out = append(out, b)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// gcLinked reports which of bs some repository links.
func gcLinked(ctx context.Context, tx tx, bs []meta.GCBlob) (map[digest.Digest]bool, error) {
	args := make([]any, len(bs))
	for i, b := range bs {
		args[i] = string(b.Digest)
	}
	rows, err := tx.query(ctx, `SELECT DISTINCT digest FROM repository_blobs WHERE digest IN `+inList(len(args)), args...)
	if err != nil {
		return nil, err
	}
	names, err := scanStrings(rows, len(bs))
	if err != nil {
		return nil, err
	}
	out := make(map[digest.Digest]bool, len(names))
	for _, n := range names {
		out[digest.Digest(n)] = true
	}
	return out, nil
}

// GCDeleteBytes implements meta.GCStore. The bytes are deleted inside the
// transaction that holds the queue rows, which ReviveBlob waits for.
func (s *Store) GCDeleteBytes(ctx context.Context, ds []digest.Digest,
	del func(context.Context, []meta.GCBlob) map[digest.Digest]error) ([]meta.GCBlob, error) {
	var out []meta.GCBlob
	err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
		out = out[:0]
		return chunks(ds, func(args []any) error {
			rows, err := tx.query(ctx, tx.lockSkip(`SELECT digest, size FROM blob_deletions
				WHERE deleted_at = 0 AND digest IN `+inList(len(args))), args...)
			if err != nil {
				return err
			}
			locked, err := scanGCBlobs(rows)
			if err != nil || len(locked) == 0 {
				return err
			}
			// A blob row beside its queued deletion cannot be (the commit
			// that would insert it refuses); should one be found, the
			// bytes are in use: forget the deletion.
			rows, err = tx.query(ctx, `SELECT digest FROM blobs WHERE digest IN `+inList(len(args)), args...)
			if err != nil {
				return err
			}
			live, err := scanStrings(rows, 0)
			if err != nil {
				return err
			}
			keep := make(map[digest.Digest]bool, len(live))
			for _, d := range live {
				keep[digest.Digest(d)] = true
				if _, err := tx.exec(ctx, `DELETE FROM blob_deletions WHERE digest = ?`, d); err != nil {
					return err
				}
			}
			todo := locked[:0]
			for _, b := range locked {
				if !keep[b.Digest] {
					todo = append(todo, b)
				}
			}
			if len(todo) == 0 {
				return nil
			}
			failed := del(ctx, todo)
			t := now()
			for _, b := range todo {
				if ferr := failed[b.Digest]; ferr != nil {
					if _, err := tx.exec(ctx, `UPDATE blob_deletions SET attempts = attempts + 1, last_error = ? WHERE digest = ?`,
						truncate(ferr.Error(), 500), string(b.Digest)); err != nil {
						return err
					}
					continue
				}
				if _, err := tx.exec(ctx, `UPDATE blob_deletions SET deleted_at = ? WHERE digest = ?`, t, string(b.Digest)); err != nil {
					return err
				}
				out = append(out, b)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// GCPurgeTombstones implements meta.GCStore.
func (s *Store) GCPurgeTombstones(ctx context.Context, before time.Time) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	res, err := s.exec(ctx, `DELETE FROM blob_deletions WHERE deleted_at > 0 AND deleted_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
