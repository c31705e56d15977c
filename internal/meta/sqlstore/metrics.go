package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.MetricsStore = (*Store)(nil)

// ProjectFigures implements meta.MetricsStore in one query: each project
// with its kept usage and quota, and its repositories and manifests by
// index ranges (repositories by the project column, manifests by the
// range of repository names the project holds).
func (s *Store) ProjectFigures(ctx context.Context, limit int) (_ []meta.ProjectFigures, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT p.name, p.public, COALESCE(u.used, 0), COALESCE(q.storage_limit, -1),
		(SELECT COUNT(*) FROM repositories r WHERE r.project = p.name),
		(SELECT COALESCE(SUM(r.pull_count), 0) FROM repositories r WHERE r.project = p.name),
		(SELECT COUNT(*) FROM manifests m WHERE m.repo >= p.name || '/' AND m.repo < p.name || '0'),
		(SELECT COUNT(*) FROM project_members pm WHERE pm.project_id = p.id)
		FROM projects p LEFT JOIN project_usage u ON u.project = p.name LEFT JOIN project_quotas q ON q.project_id = p.id
		ORDER BY p.name LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.ProjectFigures
	for rows.Next() {
		var f meta.ProjectFigures
		var public int
		if err := rows.Scan(&f.Name, &public, &f.Used, &f.Limit, &f.Repos, &f.Pulls, &f.Artifacts, &f.Members); err != nil {
			return nil, err
		}
		f.Public = public != 0
		out = append(out, f)
	}
	return out, rows.Err()
}

// JobFigures implements meta.MetricsStore: one grouped count; its rows
// are bounded by the kinds and statuses, not by the executions.
func (s *Store) JobFigures(ctx context.Context) (_ []meta.JobFigures, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT kind, status, COUNT(*) FROM job_executions GROUP BY kind, status ORDER BY kind, status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.JobFigures
	for rows.Next() {
		var f meta.JobFigures
		if err := rows.Scan(&f.Kind, &f.Status, &f.Count); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// StoreFigures implements meta.MetricsStore: the upload sessions, the
// committed blobs and their size, and the result of the last garbage
// collection that was not a dry run.
func (s *Store) StoreFigures(ctx context.Context) (_ meta.StoreFigures, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var f meta.StoreFigures
	err = s.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM uploads), (SELECT COUNT(*) FROM blobs),
		(SELECT COALESCE(SUM(size), 0) FROM blobs)`).Scan(&f.Uploads, &f.Blobs, &f.BlobBytes)
	if err != nil {
		return f, err
	}
	var result string
	var ended int64
	err = s.queryRow(ctx, `SELECT result, ended_at FROM job_executions WHERE kind = 'gc' AND status = ? AND dry_run = 0
		ORDER BY id DESC LIMIT 1`, meta.JobSuccess).Scan(&result, &ended)
	if err == sql.ErrNoRows {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	var r struct {
		FreedSpace int64 `json:"freed_space"`
	}
	_ = json.Unmarshal([]byte(result), &r) // a result of another shape: no figure
	f.GCFreed, f.GCAt = r.FreedSpace, time.UnixMilli(ended)
	return f, nil
}

// DBStats returns the statistics of the write pool and, if it is another
// one, of the read pool.
func (s *Store) DBStats() (write, read sql.DBStats, separate bool) {
	write = s.w.Stats()
	if s.r == s.w {
		return write, write, false
	}
	return write, s.r.Stats(), true
}
