package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

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

// quotaStmts are the accounting's statements and those of the push paths
// it runs beside (a blob's commit, a manifest's references), prepared
// once: on SQLite, compiling a statement costs more than running it (pgx
// caches prepared statements itself). What is saved pays for the
// accounting: a push costs about as much CPU as without it (BenchmarkPush).
type quotaStmts struct {
	blob, repo, link, upload *sql.Stmt // CommitBlob's (write transactions, tx.stmt)
	refBlob, refManifest     *sql.Stmt // PutManifest's checkRef (with the dialect's forShare)
	refs                     *sql.Stmt // PutManifest's manifest_refs rows
	hold, usage              *sql.Stmt // the accounting's (write transactions)
	check                    *sql.Stmt // the read pool
}

// projectLimit is the storage limit of the project named by ?, -1 if none.
const projectLimit = `COALESCE((SELECT q.storage_limit FROM projects p JOIN project_quotas q ON q.project_id = p.id WHERE p.name = ?), -1)`

func (s *Store) prepareQuota(ctx context.Context) error {
	for _, p := range []struct {
		st   **sql.Stmt
		pool *sql.DB
		q    string
	}{
		{&s.quota.blob, s.w, `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`},
		{&s.quota.repo, s.w, `INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`},
		{&s.quota.upload, s.w, `DELETE FROM uploads WHERE id = ?`},
		{&s.quota.refBlob, s.w, `SELECT b.size, rb.charged FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
			WHERE rb.repo = ? AND rb.digest = ?` + s.b.d.forShare},
		{&s.quota.refManifest, s.w, `SELECT size, 1 FROM manifests WHERE repo = ? AND digest = ?` + s.b.d.forShare},
		{&s.quota.refs, s.w, `INSERT INTO manifest_refs (repo, manifest, ref, kind) VALUES (?, ?, ?, ?)
			ON CONFLICT (repo, manifest, ref) DO NOTHING`},
		{&s.quota.link, s.w, `INSERT INTO repository_blobs (repo, digest, created_at, charged) VALUES (?, ?, ?, 1)
			ON CONFLICT (repo, digest) DO UPDATE SET charged = 1 WHERE repository_blobs.charged = 0`},
		{&s.quota.hold, s.w, `INSERT INTO project_blobs (project, digest, size, refs) VALUES (?, ?, ?, 1)
			ON CONFLICT (project, digest) DO UPDATE SET refs = project_blobs.refs + 1 RETURNING refs`},
		{&s.quota.usage, s.w, `INSERT INTO project_usage (project, used, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (project) DO UPDATE SET used = project_usage.used + excluded.used, updated_at = excluded.updated_at
			RETURNING used, ` + projectLimit},
		{&s.quota.check, s.r, `SELECT COALESCE((SELECT used FROM project_usage WHERE project = ?), 0), ` + projectLimit + `,
			CASE WHEN EXISTS (SELECT 1 FROM project_blobs WHERE project = ? AND digest = ?) THEN 1 ELSE 0 END`},
	} {
		st, err := p.pool.PrepareContext(ctx, s.b.bind(p.q))
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.q, err)
		}
		*p.st = st
	}
	return nil
}

// stmt is st (prepared on the write pool) in this transaction.
func (t tx) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt { return t.tx.StmtContext(ctx, st) }

// usage accumulates one transaction's changes to a project's storage.
type usage struct {
	st      *quotaStmts
	project string
	repo    string
	digest  digest.Digest // what the change is about, for observers
	delta   int64
	// before, after and limit are known once apply has run.
	before, after, limit int64
}

// beginUsage starts accounting for repo's project in tx; where writers
// are not serialized (PostgreSQL) it first locks the project's usage row,
// creating it if needed.
func (s *Store) beginUsage(ctx context.Context, tx tx, repo string) (*usage, error) {
	u := &usage{st: &s.quota, project: projectOf(repo), repo: repo, limit: meta.UnlimitedStorage}
	if tx.b.d.forShare == "" { // writers are serialized
		return u, nil
	}
	const lock = `SELECT 1 FROM project_usage WHERE project = ? FOR UPDATE`
	var one int
	err := tx.queryRow(ctx, lock, u.project).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := tx.exec(ctx, `INSERT INTO project_usage (project, used, updated_at) VALUES (?, 0, ?)
			ON CONFLICT (project) DO NOTHING`, u.project, now()); err != nil {
			return nil, err
		}
		err = tx.queryRow(ctx, lock, u.project).Scan(&one)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// hold adds a holder of d (size bytes) in the project: the first charges
// its size.
func (u *usage) hold(ctx context.Context, tx tx, d string, size int64) error {
	var refs int64
	err := tx.stmt(ctx, u.st.hold).QueryRowContext(ctx, u.project, d, size).Scan(&refs)
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
// that takes the project past its limit (the transaction is then rolled
// back, the write with it).
func (u *usage) apply(ctx context.Context, tx tx) error {
	if u.delta == 0 {
		return nil
	}
	if err := tx.stmt(ctx, u.st.usage).QueryRowContext(ctx, u.project, u.delta, now(), u.project).Scan(&u.after, &u.limit); err != nil {
		return err
	}
	u.before = u.after - u.delta
	if u.delta > 0 && u.limit >= 0 && u.after > u.limit {
		return &meta.QuotaExceededError{Project: u.project, Adding: u.delta, Used: u.before, Limit: u.limit}
	}
	return nil
}

// inAccountedTx runs fn in a write transaction that accounts for repo's
// project (fn reports what its repositories gain and lose to u), then
// tells the observer what changed or was refused. Every transaction that
// links, unlinks, stores or deletes a manifest runs in one, and changes
// only repositories of that one project (garbage collection too: a
// transaction per repository, calling unlinkBlob and deleteManifest).
func (s *Store) inAccountedTx(ctx context.Context, repo string, fn func(ctx context.Context, tx tx, u *usage) error) error {
	var u *usage
	err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
		var err error
		if u, err = s.beginUsage(ctx, tx, repo); err != nil {
			return err
		}
		if err := fn(ctx, tx, u); err != nil {
			return err
		}
		return u.apply(ctx, tx)
	})
	if err == nil && u.delta != 0 {
		s.usages.put(u.project, u.after, u.limit)
	}
	o := s.observer.Load()
	if o == nil || u == nil {
		return err
	}
	var exceeded *meta.QuotaExceededError
	switch {
	case err == nil && u.delta != 0:
		(*o)(ctx, meta.UsageChange{Project: u.project, Repo: u.repo, Digest: u.digest, Before: u.before, After: u.after,
			Limit: u.limit, Adding: max(u.delta, 0)})
	case errors.As(err, &exceeded):
		(*o)(ctx, meta.UsageChange{Project: u.project, Repo: u.repo, Digest: u.digest, Before: exceeded.Used,
			After: exceeded.Used, Adding: exceeded.Adding, Limit: exceeded.Limit, Refused: true})
	}
	return err
}

// linkBlob links d (size bytes) into repo, creating the repository if
// needed. A new link, or one released since it was made, is charged.
func linkBlob(ctx context.Context, tx tx, u *usage, repo string, d digest.Digest, size int64) error {
	if _, err := tx.stmt(ctx, u.st.repo).ExecContext(ctx, repo, now()); err != nil { // ensureRepo's
		return err
	}
	res, err := tx.stmt(ctx, u.st.link).ExecContext(ctx, repo, string(d), now())
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

// ProjectUsageSnapshot returns project's kept usage and its recount from
// scratch read by one statement, so from one snapshot of the database: a
// check that the kept usage is exact at every moment, while pushes go on
// (metatest's concurrent quota tests). Not for request paths.
func (s *Store) ProjectUsageSnapshot(ctx context.Context, project string) (kept, recount int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	err = s.queryRow(ctx, `SELECT COALESCE((SELECT used FROM project_usage WHERE project = ?), 0),
		(SELECT COALESCE(SUM(h.size), 0) FROM (
			SELECT rb.digest AS digest, b.size AS size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
				JOIN repositories r ON r.name = rb.repo WHERE r.project = ? AND rb.charged = 1
			UNION
			SELECT m.digest, m.size FROM manifests m JOIN repositories r ON r.name = m.repo WHERE r.project = ?) h)`,
		project, project, project).Scan(&kept, &recount)
	return kept, recount, err
}

// usageCache remembers projects' usage and limit for CheckQuota, for
// usageCacheTTL: a push's pre-checks (one per blob) then cost no query
// while its project has room. What it says may be stale: it is only
// trusted to let a push go on, which the transaction that links then
// checks exactly; a refusal is always confirmed by a fresh read.
type usageCache struct {
	mu sync.Mutex
	m  map[string]cachedUsage
}

type cachedUsage struct {
	used, limit int64
	at          time.Time
}

// usageCacheTTL bounds how stale a cached usage is (other replicas'
// pushes and a limit changed elsewhere).
const usageCacheTTL = time.Second

// maxCachedUsages bounds the cache: past it, it starts again empty.
const maxCachedUsages = 10000

func (c *usageCache) get(project string) (cachedUsage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.m[project]
	return u, ok && time.Since(u.at) < usageCacheTTL
}

func (c *usageCache) put(project string, used, limit int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedUsages {
		c.m = map[string]cachedUsage{}
	}
	c.m[project] = cachedUsage{used: used, limit: limit, at: time.Now()}
}

func (c *usageCache) drop(project string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, project)
}

// CheckQuota implements meta.QuotaStore: in one read, or none while the
// project's cached usage says the push fits (usageCache). A refusal is
// told to the observer as a refused transaction is.
func (s *Store) CheckQuota(ctx context.Context, repo string, d digest.Digest, size int64) (err error) {
	project := projectOf(repo)
	if c, ok := s.usages.get(project); ok && (c.limit < 0 || c.used+size <= c.limit) {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var used, limit int64
	var held int
	if err := s.quota.check.QueryRowContext(ctx, project, project, project, string(d)).Scan(&used, &limit, &held); err != nil {
		return err
	}
	s.usages.put(project, used, limit)
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
