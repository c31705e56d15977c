package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Project storage accounting (see meta/quota.go for what counts).
//
// project_blobs holds, per project and digest, the size and the number of
// holders: charged links (repository_blobs.charged = 1) and manifests of
// the project's repositories. project_usage.used is the sum of the sizes
// of a project's rows. Every transaction that changes what a project's
// repositories hold goes through inAccountedTx, which keeps both in the
// same transaction: a digest's first holder charges its size, its last
// one releases it, and the usage is checked against the limit before
// commit.
//
// Concurrency. On PostgreSQL, inAccountedTx locks the project's usage row
// before anything else, so such transactions are serialized per project:
// the refcounts and charged flags one reads cannot change before it
// commits, and two pushers linking the same digest into two repositories
// charge it once. The lock is always a transaction's first, so a
// transaction waiting for it holds nothing the holder could be waiting
// for: it adds no deadlock. SQLite serializes writers anyway.

var _ meta.QuotaStore = (*Store)(nil)

// SetUsageObserver makes the store tell o of every committed change of a
// project's used storage, and of every refused one (nil: nobody).
func (s *Store) SetUsageObserver(o meta.UsageObserver) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&o)
}

// projectOf is a repository's project: its name's part before the first
// "/", "" for none (as the column repositories.project computes it).
func projectOf(repo string) string {
	p, _, ok := strings.Cut(repo, "/")
	if !ok {
		return ""
	}
	return p
}

// usage accumulates one transaction's changes to a project's storage.
type usage struct {
	project string
	repo    string
	digest  digest.Digest // what the change is about, for observers
	delta   int64
	// locked: the usage row is locked and before/limit were read with it.
	locked        bool
	before, limit int64
	after         int64
}

// usageLimit reads a project's used storage and limit (-1: none).
const usageLimit = `SELECT COALESCE((SELECT used FROM project_usage WHERE project = ?), 0),
	COALESCE((SELECT q.storage_limit FROM projects p JOIN project_quotas q ON q.project_id = p.id WHERE p.name = ?), -1)`

// beginUsage starts accounting for repo's project in tx; where writers
// are not serialized (PostgreSQL) it first locks the project's usage row,
// creating it if needed.
func beginUsage(ctx context.Context, tx tx, repo string) (*usage, error) {
	u := &usage{project: projectOf(repo), repo: repo}
	if tx.b.d.forShare == "" { // writers are serialized
		return u, nil
	}
	lock := `SELECT used, COALESCE((SELECT q.storage_limit FROM projects p JOIN project_quotas q ON q.project_id = p.id
		WHERE p.name = project_usage.project), -1) FROM project_usage WHERE project = ? FOR UPDATE`
	err := tx.queryRow(ctx, lock, u.project).Scan(&u.before, &u.limit)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := tx.exec(ctx, `INSERT INTO project_usage (project, used, updated_at) VALUES (?, 0, ?)
			ON CONFLICT (project) DO NOTHING`, u.project, now()); err != nil {
			return nil, err
		}
		err = tx.queryRow(ctx, lock, u.project).Scan(&u.before, &u.limit)
	}
	if err != nil {
		return nil, err
	}
	u.locked = true
	return u, nil
}

// hold adds a holder of d (size bytes) in the project: the first charges
// its size.
func (u *usage) hold(ctx context.Context, tx tx, d string, size int64) error {
	var refs int64
	err := tx.queryRow(ctx, `INSERT INTO project_blobs (project, digest, size, refs) VALUES (?, ?, ?, 1)
		ON CONFLICT (project, digest) DO UPDATE SET refs = project_blobs.refs + 1 RETURNING refs`,
		u.project, d, size).Scan(&refs)
	if err == nil && refs == 1 {
		u.delta += size
	}
	return err
}

// maxInList bounds the values of one IN list.
const maxInList = 500

// release removes one holder of each of ds (a digest listed twice loses
// two): a digest whose last holder goes releases its size. A digest
// without a row is skipped: it is not counted, so there is nothing to
// release (a row is never missing while the usage is exact).
func (u *usage) release(ctx context.Context, tx tx, ds ...string) error {
	times := map[string]int64{}
	for _, d := range ds {
		times[d]++
	}
	byTimes := map[int64][]string{}
	for _, d := range slices.Sorted(maps.Keys(times)) { // a stable order: rows are locked in it
		byTimes[times[d]] = append(byTimes[times[d]], d)
	}
	for n, list := range byTimes {
		for batch := range slices.Chunk(list, maxInList) {
			args := append([]any{n, u.project}, strs(batch)...)
			if _, err := tx.exec(ctx, `UPDATE project_blobs SET refs = refs - ? WHERE project = ? AND digest IN `+inList(len(batch)),
				args...); err != nil {
				return err
			}
			freed, err := sumRows(ctx, tx, `DELETE FROM project_blobs WHERE refs <= 0 AND project = ? AND digest IN `+inList(len(batch))+
				` RETURNING size`, args[1:]...)
			if err != nil {
				return err
			}
			u.delta -= freed
		}
	}
	return nil
}

func strs(ds []string) []any {
	out := make([]any, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

// sumRows runs a query of one integer column in tx and sums it.
func sumRows(ctx context.Context, tx tx, q string, args ...any) (int64, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var sum int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, rows.Err()
}

// apply writes the transaction's change of the usage, refusing a charge
// past the project's limit.
func (u *usage) apply(ctx context.Context, tx tx) error {
	if u.delta == 0 {
		return nil
	}
	if u.delta > 0 {
		if !u.locked {
			if err := tx.queryRow(ctx, usageLimit, u.project, u.project).Scan(&u.before, &u.limit); err != nil {
				return err
			}
		}
		if u.limit >= 0 && u.before+u.delta > u.limit {
			return &meta.QuotaExceededError{Project: u.project, Adding: u.delta, Used: u.before, Limit: u.limit}
		}
	}
	err := tx.queryRow(ctx, `INSERT INTO project_usage (project, used, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (project) DO UPDATE SET used = project_usage.used + excluded.used, updated_at = excluded.updated_at
		RETURNING used`, u.project, u.delta, now()).Scan(&u.after)
	u.before = u.after - u.delta
	return err
}

// inAccountedTx runs fn in a write transaction that accounts for repo's
// project (fn reports what its repositories gain and lose to u), then
// tells the observer what changed or was refused.
func (s *Store) inAccountedTx(ctx context.Context, repo string, fn func(ctx context.Context, tx tx, u *usage) error) error {
	var u *usage
	err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
		var err error
		if u, err = beginUsage(ctx, tx, repo); err != nil {
			return err
		}
		if err := fn(ctx, tx, u); err != nil {
			return err
		}
		return u.apply(ctx, tx)
	})
	o := s.observer.Load()
	if o == nil || u == nil {
		return err
	}
	var exceeded *meta.QuotaExceededError
	switch {
	case err == nil && u.delta != 0:
		(*o)(ctx, meta.UsageChange{Project: u.project, Repo: u.repo, Digest: u.digest, Before: u.before, After: u.after,
			Limit: u.limitIfRead(), Adding: max(u.delta, 0)})
	case errors.As(err, &exceeded):
		(*o)(ctx, meta.UsageChange{Project: u.project, Repo: u.repo, Digest: u.digest, Before: exceeded.Used,
			After: exceeded.Used, Adding: exceeded.Adding, Limit: exceeded.Limit, Refused: true})
	}
	return err
}

// limitIfRead is the limit when apply read it (a charge), else unknown.
func (u *usage) limitIfRead() int64 {
	if u.delta > 0 || u.locked {
		return u.limit
	}
	return meta.UnlimitedStorage
}

// linkBlob links d (size bytes) into repo, creating the repository if
// needed. A new link, or one released since it was made, is charged.
func linkBlob(ctx context.Context, tx tx, u *usage, repo string, d digest.Digest, size int64) error {
	if err := ensureRepo(ctx, tx, repo); err != nil {
		return err
	}
	res, err := tx.exec(ctx, `INSERT INTO repository_blobs (repo, digest, created_at, charged) VALUES (?, ?, ?, 1)
		ON CONFLICT (repo, digest) DO UPDATE SET charged = 1 WHERE repository_blobs.charged = 0`, repo, string(d), now())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	return u.hold(ctx, tx, string(d), size)
}

// recharge charges repo's link of d again if it was released: a manifest
// being stored references it.
func recharge(ctx context.Context, tx tx, u *usage, repo string, d digest.Digest, size int64) error {
	if err := affected(tx.exec(ctx, `UPDATE repository_blobs SET charged = 1 WHERE repo = ? AND digest = ? AND charged = 0`,
		repo, string(d))); err != nil {
		return err
	}
	return u.hold(ctx, tx, string(d), size)
}

// releaseManifest releases manifest d of repo, which is being deleted, and
// the links of the blobs it references that no other manifest of repo
// references. Run before d's manifest_refs rows are deleted.
func releaseManifest(ctx context.Context, tx tx, u *usage, repo string, d digest.Digest) error {
	rows, err := tx.query(ctx, `UPDATE repository_blobs SET charged = 0 WHERE repo = ? AND charged = 1
		AND digest IN (SELECT ref FROM manifest_refs WHERE repo = ? AND manifest = ? AND kind = 0)
		AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = repository_blobs.repo AND r.ref = repository_blobs.digest
			AND r.kind = 0 AND r.manifest <> ?)
		RETURNING digest`, repo, repo, string(d), string(d))
	if err != nil {
		return err
	}
	released, err := scanStrings(rows, 16)
	if err != nil {
		return err
	}
	return u.release(ctx, tx, append(released, string(d))...)
}

// releaseRepository releases everything repo holds: its manifests and its
// charged links. Run before its rows are deleted.
func releaseRepository(ctx context.Context, tx tx, u *usage, repo string) error {
	const held = `SELECT digest FROM manifests WHERE repo = ? UNION ALL SELECT digest FROM repository_blobs WHERE repo = ? AND charged = 1`
	// Each digest loses as many holders as repo has of it (one or two: a
	// manifest and a link of the same bytes).
	if _, err := tx.exec(ctx, `UPDATE project_blobs SET refs = refs -
		(SELECT COUNT(*) FROM manifests m WHERE m.repo = ? AND m.digest = project_blobs.digest) -
		(SELECT COUNT(*) FROM repository_blobs rb WHERE rb.repo = ? AND rb.digest = project_blobs.digest AND rb.charged = 1)
		WHERE project = ? AND digest IN (`+held+`)`, repo, repo, u.project, repo, repo); err != nil {
		return err
	}
	freed, err := sumRows(ctx, tx, `DELETE FROM project_blobs WHERE refs <= 0 AND project = ? AND digest IN (`+held+`) RETURNING size`,
		u.project, repo, repo)
	u.delta -= freed
	return err
}

// ProjectStorageUsed implements meta.ProjectSettingsStore: the kept usage,
// one read of a primary key.
func (s *Store) ProjectStorageUsed(ctx context.Context, project string) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int64
	err = s.queryRow(ctx, `SELECT used FROM project_usage WHERE project = ?`, project).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// RecountProjectUsage implements meta.QuotaStore: the distinct digests of
// the project's charged links and manifests, each counted once.
func (s *Store) RecountProjectUsage(ctx context.Context, project string) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int64
	err = s.queryRow(ctx, `SELECT COALESCE(SUM(h.size), 0) FROM (
		SELECT rb.digest AS digest, b.size AS size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
			JOIN repositories r ON r.name = rb.repo WHERE r.project = ? AND rb.charged = 1
		UNION
		SELECT m.digest, m.size FROM manifests m JOIN repositories r ON r.name = m.repo WHERE r.project = ?) h`,
		project, project).Scan(&n)
	return n, err
}

// CheckQuota implements meta.QuotaStore, in one read. A refusal is told to
// the observer as a refused transaction is.
func (s *Store) CheckQuota(ctx context.Context, repo string, d digest.Digest, size int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	project := projectOf(repo)
	var used, limit int64
	var held int
	if err := s.queryRow(ctx, usageLimit+`, CASE WHEN EXISTS (SELECT 1 FROM project_blobs WHERE project = ? AND digest = ?) THEN 1 ELSE 0 END`,
		project, project, project, string(d)).Scan(&used, &limit, &held); err != nil {
		return err
	}
	if held == 1 {
		size = 0
	}
	if limit < 0 || used+size <= limit {
		return nil
	}
	if o := s.observer.Load(); o != nil { // a refusal as the transaction's would be
		(*o)(ctx, meta.UsageChange{Project: project, Repo: repo, Digest: d, Before: used, After: used, Adding: size,
			Limit: limit, Refused: true})
	}
	return &meta.QuotaExceededError{Project: project, Adding: size, Used: used, Limit: limit}
}
