package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/berth-registry/berth/internal/meta"
)

// The quotas of the management API: one per project, its id the project's,
// its limit in project_quotas (none: unlimited), its usage in
// project_usage (none: 0).

// quotaFrom joins a project with its limit, usage and owner.
const quotaFrom = ` FROM projects p
	LEFT JOIN project_quotas q ON q.project_id = p.id
	LEFT JOIN project_usage pu ON pu.project = p.name
	LEFT JOIN users o ON o.id = p.owner_id`

// quotaUpdated is the last change of a quota: of its limit, of its usage,
// or its project's creation (the greatest of the three, on both
// databases: SQLite's max() of a NULL is NULL, PostgreSQL has GREATEST).
const quotaUpdated = `CASE WHEN COALESCE(q.updated_at, 0) > COALESCE(pu.updated_at, 0)
	THEN CASE WHEN q.updated_at > p.created_at THEN q.updated_at ELSE p.created_at END
	ELSE CASE WHEN COALESCE(pu.updated_at, 0) > p.created_at THEN pu.updated_at ELSE p.created_at END END`

const quotaCols = `p.id, p.name, COALESCE(o.username, ''), COALESCE(q.storage_limit, -1), COALESCE(pu.used, 0), p.created_at, ` + quotaUpdated

func scanQuota(row interface{ Scan(...any) error }) (*meta.Quota, error) {
	var q meta.Quota
	var created, updated int64
	if err := row.Scan(&q.ProjectID, &q.Project, &q.OwnerName, &q.Limit, &q.Used, &created, &updated); err != nil {
		return nil, err
	}
	q.CreatedAt, q.UpdatedAt = ms2t(created), ms2t(updated)
	return &q, nil
}

// quotaListing is the keys of Quotas: Harbor's reference_id filter, and
// its sort keys (an unlimited hard limit sorts as the largest, as in
// Harbor).
var quotaListing = listing{
	"reference_id":  {expr: "p.id", kind: intValue, noSort: true},
	"hard.storage":  {expr: "CASE WHEN COALESCE(q.storage_limit, -1) < 0 THEN 9223372036854775807 ELSE q.storage_limit END", kind: intValue},
	"used.storage":  {expr: "COALESCE(pu.used, 0)", kind: intValue},
	"creation_time": {expr: "p.created_at", kind: timeValue},
	"update_time":   {expr: quotaUpdated, kind: timeValue},
}

// Quotas implements meta.QuotaStore.
func (s *Store) Quotas(ctx context.Context, lq meta.ListQuery) (_ []meta.Quota, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	where, args, err := s.where(quotaListing, lq, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	order, err := quotaListing.orderBy(lq, "p.created_at DESC, p.id DESC")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*)`+quotaFrom+` WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(lq.Page)
	out := []meta.Quota{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		q, err := scanQuota(rows)
		if err == nil {
			out = append(out, *q)
		}
		return err
	}, `SELECT `+quotaCols+quotaFrom+` WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	return out, total, err
}

// Quota implements meta.QuotaStore.
func (s *Store) Quota(ctx context.Context, projectID int64) (_ *meta.Quota, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	q, err := scanQuota(s.queryRow(ctx, `SELECT `+quotaCols+quotaFrom+` WHERE p.id = ?`, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, meta.ErrNotFound
	}
	return q, err
}

// SetStorageLimit implements meta.QuotaStore. This replica's pre-checks
// see the new limit at once (others' within usageCacheTTL; pushes are
// checked exactly in any case).
func (s *Store) SetStorageLimit(ctx context.Context, projectID, limit int64) error {
	var name string
	err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
		err := tx.queryRow(ctx, tx.forShare(`SELECT name FROM projects WHERE id = ?`), projectID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrNotFound
		}
		if err != nil {
			return err
		}
		return applyChange(ctx, tx, projectID, meta.ProjectChange{StorageLimit: &limit}, now())
	})
	if err == nil {
		s.usages.drop(name)
	}
	return err
}
