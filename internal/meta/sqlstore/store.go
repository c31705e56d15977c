// Package sqlstore implements meta.Store on SQL databases: SQLite (the
// embedded default) and PostgreSQL (several replicas sharing one database).
// The queries are written once, in the SQL both share, with ? placeholders;
// a dialect (dialect.go) rebinds them and supplies the few differences, and
// each dialect has its own migrations directory.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// Store is a meta.Store over database/sql. w is the write pool, r the read
// pool; they may be the same *sql.DB.
type Store struct {
	w, r *sql.DB
	b    *binder
	// timeout bounds each operation, including the wait for a free pooled
	// connection; 0: only the caller's context does.
	timeout time.Duration

	// Prepared read statements of the hot paths (manifest and blob
	// GET/HEAD, tag pages): parsed once, reused on every pooled connection.
	stManifestByTag, stManifestByDigest *sql.Stmt
	stHeadByTag, stHeadByDigest         *sql.Stmt
	stBlobSize                          *sql.Stmt
	stTagsPage                          *sql.Stmt

	observer atomic.Pointer[meta.UsageObserver] // see SetUsageObserver (quota.go)
	quota    quotaStmts                         // quota.go
	usages   usageCache                         // quota.go
}

var _ meta.Store = (*Store)(nil)

func newStore(ctx context.Context, d *dialect, w, r *sql.DB, timeout time.Duration) (*Store, error) {
	s := &Store{w: w, r: r, b: &binder{d: d}, timeout: timeout}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.stManifestByTag, `SELECT m.digest, m.media_type, m.size, m.body FROM tags t
			JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.name = ?`},
		{&s.stManifestByDigest, `SELECT digest, media_type, size, body FROM manifests WHERE repo = ? AND digest = ?`},
		{&s.stHeadByTag, `SELECT m.digest, m.media_type, m.size FROM tags t
			JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.name = ?`},
		{&s.stHeadByDigest, `SELECT digest, media_type, size FROM manifests WHERE repo = ? AND digest = ?`},
		{&s.stBlobSize, `SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
			WHERE rb.repo = ? AND rb.digest = ?`},
		{&s.stTagsPage, `SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name LIMIT ?`},
	} {
		st, err := r.PrepareContext(ctx, s.b.bind(p.q))
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", p.q, err)
		}
		*p.st = st
	}
	if err := s.prepareQuota(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping implements meta.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil || s.r == s.w {
		return err
	}
	return s.r.PingContext(ctx)
}

// Close implements meta.Store.
func (s *Store) Close() error {
	err := s.r.Close()
	if s.w != s.r {
		err = errors.Join(err, s.w.Close())
	}
	return err
}

func now() int64 { return time.Now().UnixMilli() }

// bound applies the store's timeout to an operation. On PostgreSQL it is
// what turns an exhausted pool into a bounded wait: database/sql queues a
// request for a connection until its context ends.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// end finishes an operation of the store begun with
// ctx, cancel := s.bound(ctx): it releases the timeout and marks the error
// left in *errp as meta.ErrUnavailable when it only says the database
// could not answer. Deferred as a plain call (not a closure), it costs the
// hot read paths no allocation.
func (s *Store) end(cancel context.CancelFunc, errp *error) {
	cancel()
	*errp = s.classify(*errp)
}

// classify wraps err with meta.Unavailable if it is a timeout (the store's
// own or the caller's deadline), or the dialect's sign of a database that
// is unreachable or locked past the busy timeout. Anything else, a
// cancelled request included, is returned as it is.
func (s *Store) classify(err error) error {
	if err == nil || meta.IsUnavailable(err) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || s.b.d.unavailable != nil && s.b.d.unavailable(err) {
		return meta.Unavailable(err)
	}
	return err
}

// Statements outside a transaction, rebound for the dialect.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.w.ExecContext(ctx, s.b.bind(q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.r.QueryRowContext(ctx, s.b.bind(q), args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.r.QueryContext(ctx, s.b.bind(q), args...)
}

// maxTxAttempts bounds how often inTx runs a transaction that failed with
// a retryable error (PostgreSQL: serialization failure, deadlock).
const maxTxAttempts = 5

// inTx runs fn in a write transaction, again (after a short random pause)
// when the database says the transaction may simply be retried. fn must
// have no effects outside the transaction, and must run its statements
// with the ctx it is given: that one carries the store's timeout. The
// error is classified as op's is.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx tx) error) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil || attempt == maxTxAttempts || s.b.d.retryable == nil || !s.b.d.retryable(err) {
			return err
		}
		pause := time.NewTimer(time.Duration(rand.Int64N(int64(attempt) * int64(5*time.Millisecond))))
		select {
		case <-ctx.Done():
			pause.Stop()
			return err
		case <-pause.C:
		}
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(ctx context.Context, tx tx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx{tx: sqlTx, b: s.b}); err != nil {
		sqlTx.Rollback()
		return err
	}
	return sqlTx.Commit()
}

func ensureRepo(ctx context.Context, tx tx, repo string) error {
	_, err := tx.exec(ctx, `INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, repo, now())
	return err
}

// BlobSize implements meta.Store.
func (s *Store) BlobSize(ctx context.Context, repo string, d digest.Digest) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var size int64
	err = s.stBlobSize.QueryRowContext(ctx, repo, string(d)).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, meta.ErrBlobNotFound
	}
	return size, err
}

// CommitBlob implements meta.Store. The link is charged to the project
// (*meta.QuotaExceededError past its limit: nothing is recorded). It
// answers meta.ErrBlobDeletionPending, having changed nothing, while
// garbage collection holds d (gc.go).
func (s *Store) CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string) error {
	return s.retryFK(func() error { return s.commitBlob(ctx, repo, d, size, uploadID) })
}

func (s *Store) commitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string) error {
	return s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error {
		u.digest = d
		if _, err := tx.stmt(ctx, s.quota.blob).ExecContext(ctx, string(d), size, now()); err != nil {
			return err
		}
		if err := linkBlob(ctx, tx, u, repo, d, size); err != nil {
			return err
		}
		if err := refuseCollected(ctx, tx, d); err != nil {
			return err
		}
		if uploadID != "" {
			if _, err := tx.stmt(ctx, s.quota.upload).ExecContext(ctx, uploadID); err != nil {
				return err
			}
		}
		return nil
	})
}

// MountBlob implements meta.Store. On PostgreSQL the source link is locked
// until commit, so a concurrent unlink of it waits for the mount instead of
// slipping in between its read and write; a mount from any repository locks
// the blob row (which garbage collection must lock to delete it). The new
// link is charged as CommitBlob's.
func (s *Store) MountBlob(ctx context.Context, repo, from string, d digest.Digest) (int64, error) {
	var size int64
	err := s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error {
		u.digest = d
		var err error
		if from != "" {
			err = tx.queryRow(ctx, tx.forShare(`SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
				WHERE rb.repo = ? AND rb.digest = ?`), from, string(d)).Scan(&size)
		} else {
			err = tx.queryRow(ctx, tx.forShare(`SELECT b.size FROM blobs b WHERE b.digest = ?
				AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)`), string(d)).Scan(&size)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrBlobNotFound
		}
		if err != nil {
			return err
		}
		return linkBlob(ctx, tx, u, repo, d, size)
	})
	return size, err
}

// UnlinkBlob implements meta.Store. A charged link releases its share of
// the project's usage.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error { return unlinkBlob(ctx, tx, u, repo, d) })
}

// unlinkBlob removes the link of d into repo, releasing it in u (repo's
// project's accounting, begun first in tx: see inAccountedTx). Every
// unlink goes through it.
func unlinkBlob(ctx context.Context, tx tx, u *usage, repo string, d digest.Digest) error {
	var charged int
	err := tx.queryRow(ctx, `DELETE FROM repository_blobs WHERE repo = ? AND digest = ? RETURNING charged`, repo, string(d)).Scan(&charged)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.ErrBlobNotFound
	}
	if err != nil || charged == 0 {
		return err
	}
	return u.release(ctx, tx, string(d))
}

// CreateUpload implements meta.Store.
func (s *Store) CreateUpload(ctx context.Context, u meta.Upload) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	_, err = s.exec(ctx, `INSERT INTO uploads (id, repo, received, hash_state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, u.ID, u.Repo, u.Offset, u.HashState, t, t)
	return err
}

// GetUpload implements meta.Store.
func (s *Store) GetUpload(ctx context.Context, repo, id string) (_ meta.Upload, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	u := meta.Upload{ID: id}
	var created, updated int64
	err = s.queryRow(ctx, `SELECT repo, received, hash_state, created_at, updated_at FROM uploads WHERE id = ?`, id).
		Scan(&u.Repo, &u.Offset, &u.HashState, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) || err == nil && u.Repo != repo {
		return meta.Upload{}, meta.ErrUploadNotFound
	}
	u.CreatedAt, u.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return u, err
}

// AdvanceUpload implements meta.Store. The compare-and-set is one UPDATE:
// on PostgreSQL a concurrent UPDATE of the row waits for the first to
// commit and then re-checks received against the new row, so exactly one
// of several racing advances wins, as with SQLite's single writer.
func (s *Store) AdvanceUpload(ctx context.Context, id string, from, to int64, hashState []byte) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	res, err := s.exec(ctx, `UPDATE uploads SET received = ?, hash_state = ?, updated_at = ? WHERE id = ? AND received = ?`,
		to, hashState, now(), id, from)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return meta.ErrUploadConflict
	}
	return nil
}

// DeleteUpload implements meta.Store.
func (s *Store) DeleteUpload(ctx context.Context, id string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	res, err := s.exec(ctx, `DELETE FROM uploads WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return meta.ErrUploadNotFound
	}
	return nil
}

// UploadExists implements meta.Store.
func (s *Store) UploadExists(ctx context.Context, id string) (_ bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM uploads WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

// StaleUploads implements meta.Store.
func (s *Store) StaleUploads(ctx context.Context, before time.Time, limit int) (_ []meta.Upload, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT id, repo, received, created_at, updated_at FROM uploads
		WHERE updated_at < ? ORDER BY updated_at LIMIT ?`, before.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.Upload
	for rows.Next() {
		var u meta.Upload
		var c, up int64
		if err := rows.Scan(&u.ID, &u.Repo, &u.Offset, &c, &up); err != nil {
			return nil, err
		}
		u.CreatedAt, u.UpdatedAt = time.UnixMilli(c), time.UnixMilli(up)
		out = append(out, u)
	}
	return out, rows.Err()
}

// checkRef verifies inside tx that ref exists in repo with its size, and
// locks what it found until commit: a concurrent UnlinkBlob or
// DeleteManifest of the referenced content waits for this transaction, so
// a manifest is never committed referencing something already gone. A
// referenced blob link released since it was made is charged again.
func checkRef(ctx context.Context, tx tx, u *usage, repo string, ref oci.Ref) error {
	q := u.st.refBlob // prepared (quota.go): SELECT size, charged of the link, forShare
	if ref.Kind == oci.RefManifest {
		q = u.st.refManifest // SELECT size, 1 of the manifest, forShare
	}
	var size int64
	var charged int
	err := tx.stmt(ctx, q).QueryRowContext(ctx, repo, string(ref.Digest)).Scan(&size, &charged)
	if errors.Is(err, sql.ErrNoRows) {
		return &meta.MissingRefError{Ref: ref, ActualSize: -1}
	}
	if err != nil {
		return err
	}
	if size != ref.Size {
		return &meta.MissingRefError{Ref: ref, ActualSize: size}
	}
	if charged == 0 {
		return recharge(ctx, tx, u, repo, ref.Digest, size)
	}
	return nil
}

// PutManifest implements meta.Store.
func (s *Store) PutManifest(ctx context.Context, m *meta.Manifest, tags []string) error {
	return s.PutManifestGuarded(ctx, m, tags, nil)
}

// PutManifestGuarded implements meta.ImmutableStore: a tag guard protects
// is set by setProtectedTag (immutable.go), which refuses to move it.
func (s *Store) PutManifestGuarded(ctx context.Context, m *meta.Manifest, tags []string, guard meta.TagGuard) error {
	return s.putManifest(ctx, m, tags, guard, false)
}

// putManifest stores m; lazy records references absent from the
// repository instead of refusing them (PutProxyManifest).
func (s *Store) putManifest(ctx context.Context, m *meta.Manifest, tags []string, guard meta.TagGuard, lazy bool) error {
	var annotations []byte
	if len(m.Annotations) > 0 {
		var err error
		if annotations, err = json.Marshal(m.Annotations); err != nil {
			return err
		}
	}
	var subject any
	if m.Subject != "" {
		subject = string(m.Subject)
	}
	// Tag rows are locked in name order, so concurrent pushes of several
	// tags cannot deadlock each other on PostgreSQL.
	if !slices.IsSorted(tags) {
		tags = slices.Sorted(slices.Values(tags))
	}
	return s.inAccountedTx(ctx, m.Repo, func(ctx context.Context, tx tx, u *usage) error {
		u.digest = m.Digest
		for _, ref := range m.Refs {
			err := checkRef(ctx, tx, u, m.Repo, ref)
			var missing *meta.MissingRefError
			if lazy && errors.As(err, &missing) && missing.ActualSize < 0 {
				continue
			}
			if err != nil {
				return err
			}
		}
		if err := ensureRepo(ctx, tx, m.Repo); err != nil {
			return err
		}
		t := now()
		inserted, err := insertManifest(ctx, tx, m, subject, annotations, t)
		if err != nil {
			return err
		}
		if inserted {
			if err := u.hold(ctx, tx, string(m.Digest), m.Size); err != nil {
				return err
			}
			for _, ref := range m.Refs {
				if _, err := tx.stmt(ctx, s.quota.refs).ExecContext(ctx, m.Repo, string(m.Digest), string(ref.Digest), int(ref.Kind)); err != nil {
					return err
				}
			}
		}
		for _, tag := range tags {
			set := setTag
			if guard != nil && guard(tag) {
				set = setProtectedTag
			}
			if err := set(ctx, tx, m.Repo, tag, m.Digest, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertManifest inserts m unless it is already stored, and reports whether
// it did. An existing row is locked until commit — ON CONFLICT DO UPDATE
// locks the row it conflicts with even when its WHERE is false, and
// updates nothing — so on PostgreSQL a concurrent DeleteManifest waits for
// this transaction instead of removing the manifest between here and
// commit, which would leave the tags set below pointing at nothing. The
// statement is atomic: a row being deleted meanwhile makes it wait and then
// insert. (SQLite: writers are serialized anyway; nothing changes.)
func insertManifest(ctx context.Context, tx tx, m *meta.Manifest, subject any, annotations []byte, t int64) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO manifests
		(repo, digest, media_type, artifact_type, subject, annotations, size, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repo, digest) DO UPDATE SET created_at = manifests.created_at WHERE false`,
		m.Repo, string(m.Digest), m.MediaType, m.ArtifactType, subject, annotations, m.Size, m.Body, t)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// setTag points tag at d, recording the change in tag_history only when the
// tag actually moves. The upsert locks the tag row, so concurrent moves of
// one tag are serialized and each records its own history row.
func setTag(ctx context.Context, tx tx, repo, tag string, d digest.Digest, t int64) error {
	res, err := tx.exec(ctx, `INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repo, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at
		WHERE tags.digest <> excluded.digest`, repo, tag, string(d), t)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return addTagHistory(ctx, tx, repo, tag, string(d), "set", t)
}

func addTagHistory(ctx context.Context, tx tx, repo, tag, d, action string, t int64) error {
	_, err := tx.exec(ctx, `INSERT INTO tag_history (repo, name, digest, action, at) VALUES (?, ?, ?, ?, ?)`,
		repo, tag, d, action, t)
	return err
}

// GetManifest implements meta.Store.
func (s *Store) GetManifest(ctx context.Context, repo, ref string, withBody bool) (_ *meta.Manifest, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var st *sql.Stmt
	switch byDigest := oci.IsDigest(ref); {
	case byDigest && withBody:
		st = s.stManifestByDigest
	case byDigest:
		st = s.stHeadByDigest
	case withBody:
		st = s.stManifestByTag
	default:
		st = s.stHeadByTag
	}
	m := &meta.Manifest{Repo: repo}
	var d string
	dest := []any{&d, &m.MediaType, &m.Size}
	if withBody {
		dest = append(dest, &m.Body)
	}
	err = st.QueryRowContext(ctx, repo, ref).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, meta.ErrManifestNotFound
	}
	if err != nil {
		return nil, err
	}
	m.Digest = digest.Digest(d)
	return m, nil
}

// DeleteManifest implements meta.Store. The tags removed are the ones the
// DELETE itself returns, so tag_history records exactly those even if a
// concurrent push moves one of them away meanwhile. The manifest, and the
// links of the blobs only it referenced in the repository, release their
// share of the project's usage at once (the links stay for garbage
// collection).
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return s.DeleteManifestGuarded(ctx, repo, d, nil)
}

// DeleteManifestGuarded implements meta.ImmutableStore: the guard is asked
// about the tags the DELETE returns, so about every tag on the manifest at
// commit.
func (s *Store) DeleteManifestGuarded(ctx context.Context, repo string, d digest.Digest, guard meta.TagGuard) error {
	return s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error {
		return deleteManifest(ctx, tx, u, repo, d, guard)
	})
}

// DeleteArtifactGuarded implements meta.ImmutableStore. The check follows
// the delete, which holds the manifest row: an index PUT referencing d
// either committed before (its reference is seen here) or checks d after
// this commits (and is refused, MANIFEST_BLOB_UNKNOWN).
func (s *Store) DeleteArtifactGuarded(ctx context.Context, repo string, d digest.Digest, guard meta.TagGuard) error {
	return s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error {
		if err := deleteManifest(ctx, tx, u, repo, d, guard); err != nil {
			return err
		}
		var one int
		err := tx.queryRow(ctx, `SELECT 1 FROM manifest_refs WHERE repo = ? AND ref = ? AND kind = ? LIMIT 1`,
			repo, string(d), int(oci.RefManifest)).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		return meta.ErrManifestReferenced
	})
}

// deleteManifest removes manifest d of repo with its tags and references,
// releasing in u (repo's project's accounting, begun first in tx: see
// inAccountedTx) the manifest and the links only it referenced. Every
// manifest delete goes through it.
func deleteManifest(ctx context.Context, tx tx, u *usage, repo string, d digest.Digest, guard meta.TagGuard) error {
	res, err := tx.exec(ctx, `DELETE FROM manifests WHERE repo = ? AND digest = ?`, repo, string(d))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return meta.ErrManifestNotFound
	}
	rows, err := tx.query(ctx, `DELETE FROM tags WHERE repo = ? AND digest = ? RETURNING name`, repo, string(d))
	if err != nil {
		return err
	}
	names, err := scanStrings(rows, 16)
	if err != nil {
		return err
	}
	if err := refuseProtected(repo, d, names, guard); err != nil {
		return err
	}
	t := now()
	for _, name := range names {
		if err := addTagHistory(ctx, tx, repo, name, string(d), "delete", t); err != nil {
			return err
		}
	}
	if err := releaseManifest(ctx, tx, u, repo, d); err != nil {
		return err
	}
	_, err = tx.exec(ctx, `DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?`, repo, string(d))
	return err
}

// DeleteTag implements meta.Store.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	return s.DeleteTagGuarded(ctx, repo, tag, nil)
}

// DeleteTagGuarded implements meta.ImmutableStore.
func (s *Store) DeleteTagGuarded(ctx context.Context, repo, tag string, guard meta.TagGuard) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		var d string
		err := tx.queryRow(ctx, `DELETE FROM tags WHERE repo = ? AND name = ? RETURNING digest`, repo, tag).Scan(&d)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrTagNotFound
		}
		if err != nil {
			return err
		}
		if err := refuseProtected(repo, digest.Digest(d), []string{tag}, guard); err != nil {
			return err
		}
		return addTagHistory(ctx, tx, repo, tag, d, "delete", now())
	})
}

// Tags implements meta.Store.
func (s *Store) Tags(ctx context.Context, repo, last string, n int) (_ []string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.stTagsPage.QueryContext(ctx, repo, last, n)
	if err != nil {
		return nil, err
	}
	out, err := scanStrings(rows, n)
	if err != nil || len(out) > 0 {
		return out, err
	}
	// An empty page: tell an unknown repository from one without tags.
	var exists int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM repositories WHERE name = ?`, repo).Scan(&exists)
	if err == nil && exists == 0 {
		err = meta.ErrRepoNotFound
	}
	return out, err
}

// Repositories implements meta.Store.
func (s *Store) Repositories(ctx context.Context, last string, n int) (_ []string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?`, last, n)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows, n)
}

func scanStrings(rows *sql.Rows, capacity int) ([]string, error) {
	defer rows.Close()
	out := make([]string, 0, min(capacity, 1024))
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Referrers implements meta.Store.
func (s *Store) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, last string, n int) (_ []oci.Descriptor, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	q := `SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repo = ? AND subject = ? AND digest > ?`
	args := []any{repo, string(d), last}
	if artifactType != "" {
		q += ` AND artifact_type = ?`
		args = append(args, artifactType)
	}
	rows, err := s.query(ctx, q+` ORDER BY digest LIMIT ?`, append(args, n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []oci.Descriptor{}
	for rows.Next() {
		var desc oci.Descriptor
		var dg string
		var ann []byte
		if err := rows.Scan(&dg, &desc.MediaType, &desc.Size, &desc.ArtifactType, &ann); err != nil {
			return nil, err
		}
		desc.Digest = digest.Digest(dg)
		if len(ann) > 0 {
			if err := json.Unmarshal(ann, &desc.Annotations); err != nil {
				return nil, fmt.Errorf("manifest %s annotations: %w", dg, err)
			}
		}
		out = append(out, desc)
	}
	return out, rows.Err()
}
