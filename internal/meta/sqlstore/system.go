package sqlstore

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

var (
	_ meta.SystemStore  = (*Store)(nil)
	_ meta.SettingStore = (*Store)(nil)
)

// projectRepos is the condition "repository r is in project p": the range
// of r.name from "p/" up to "p0" ('0' follows '/'), as inProject, served by
// the primary key of repositories for each project.
const projectRepos = `r.name >= p.name || '/' AND r.name < p.name || '0'`

// Statistics implements meta.SystemStore: one query counts the public
// projects and the private ones asked for, with their repositories (an
// index range per project); a second sums the storage if asked.
func (s *Store) Statistics(ctx context.Context, q meta.StatisticsQuery) (_ meta.Statistics, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	private, args := `1 = 0`, []any(nil)
	switch {
	case q.AllPrivate:
		private = `1 = 1`
	case q.MemberOf > 0:
		private, args = `p.id IN (SELECT project_id FROM project_members WHERE user_id = ?)`, []any{q.MemberOf}
	}
	rows, err := s.query(ctx, `SELECT x.public, COUNT(*), COALESCE(SUM(x.repos), 0) FROM (
		SELECT p.public AS public, (SELECT COUNT(*) FROM repositories r WHERE `+projectRepos+`) AS repos
		FROM projects p WHERE p.public = 1 OR `+private+`) x GROUP BY x.public`, args...)
	if err != nil {
		return meta.Statistics{}, err
	}
	defer rows.Close()
	var st meta.Statistics
	for rows.Next() {
		var public int
		var projects, repos int64
		if err := rows.Scan(&public, &projects, &repos); err != nil {
			return meta.Statistics{}, err
		}
		if public != 0 {
			st.PublicProjects, st.PublicRepos = projects, repos
		} else {
			st.PrivateProjects, st.PrivateRepos = projects, repos
		}
	}
	if err := rows.Err(); err != nil {
		return meta.Statistics{}, err
	}
	if q.Storage {
		err = s.queryRow(ctx, `SELECT COALESCE(SUM(used), 0) FROM project_usage`).Scan(&st.Storage)
	}
	return st, err
}

// SearchRepositories implements meta.SystemStore in one query: the
// projects visible to the caller, each joined with its repositories by
// name range, filtered by the name pattern.
func (s *Store) SearchRepositories(ctx context.Context, q meta.RepoSearch) (_ []meta.RepoHit, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	visible, args := `p.public = 1`, []any{}
	switch {
	case q.All:
		visible = `1 = 1`
	case q.VisibleTo > 0:
		groups := ""
		if n := len(q.VisibleToGroups); n > 0 {
			groups = ` OR p.id IN (SELECT project_id FROM project_group_members WHERE group_id IN (` + qmarks(n) + `))`
		}
		visible, args = `(p.public = 1 OR p.id IN (SELECT project_id FROM project_members WHERE user_id = ?)`+groups+`)`, []any{q.VisibleTo}
		for _, g := range q.VisibleToGroups {
			args = append(args, g)
		}
	}
	limit := q.Limit
	if limit <= 0 || limit > meta.MaxListSize {
		limit = meta.MaxListSize
	}
	args = append(args, containsFold(q.Name), limit)
	rows, err := s.query(ctx, `SELECT p.id, p.name, p.public, r.name,
		(SELECT COUNT(*) FROM manifests m WHERE m.repo = r.name`+notIndexChild+`), r.pull_count
		FROM projects p JOIN repositories r ON `+projectRepos+`
		WHERE `+visible+` AND `+s.b.d.likeFold("r.name")+` ORDER BY r.name LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.RepoHit{}
	for rows.Next() {
		var h meta.RepoHit
		var public int
		if err := rows.Scan(&h.ProjectID, &h.Project, &public, &h.Name, &h.ArtifactCount, &h.PullCount); err != nil {
			return nil, err
		}
		h.Public = public != 0
		out = append(out, h)
	}
	return out, rows.Err()
}

// Settings implements meta.SettingStore.
func (s *Store) Settings(ctx context.Context) (_ map[string]string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT name, value FROM settings`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// PutSettings implements meta.SettingStore with one upsert per setting in
// a single transaction.
func (s *Store) PutSettings(ctx context.Context, values map[string]string) error {
	t := time.Now().UnixMilli()
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		for _, k := range slices.Sorted(maps.Keys(values)) { // one order: no deadlock between two writers
			if _, err := tx.exec(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, k, values[k], t); err != nil {
				return err
			}
		}
		return nil
	})
}
