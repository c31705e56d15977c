package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.LabelCatalog = (*Store)(nil)

// isFKViolation recognizes a foreign key failure on SQLite and PostgreSQL
// (SQLSTATE 23503).
func isFKViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "FOREIGN KEY constraint failed") || strings.Contains(err.Error(), "23503"))
}

// nullID is a project id as stored: NULL for none (a global label).
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

const labelCols = `l.id, l.name, l.description, l.color, l.scope, COALESCE(l.project_id, 0), l.created_at, l.updated_at`

func scanLabel(row interface{ Scan(...any) error }, more ...any) (*meta.Label, error) {
	var l meta.Label
	var created, updated int64
	dest := []any{&l.ID, &l.Name, &l.Description, &l.Color, &l.Scope, &l.ProjectID, &created, &updated}
	if err := row.Scan(append(dest, more...)...); err != nil {
		return nil, err
	}
	l.CreatedAt, l.UpdatedAt = ms2t(created), ms2t(updated)
	return &l, nil
}

// CreateLabel implements meta.LabelCatalog.
func (s *Store) CreateLabel(ctx context.Context, l *meta.Label) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	id, err := s.insertReturningID(ctx, `INSERT INTO labels (name, description, color, scope, project_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, l.Name, l.Description, l.Color, l.Scope, nullID(l.ProjectID), t, t)
	if isFKViolation(err) {
		return meta.ErrNotFound
	}
	if err != nil {
		return err
	}
	l.ID, l.CreatedAt, l.UpdatedAt = id, ms2t(t), ms2t(t)
	return nil
}

// GetLabel implements meta.LabelCatalog.
func (s *Store) GetLabel(ctx context.Context, id int64) (_ *meta.Label, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	l, err := scanLabel(s.queryRow(ctx, `SELECT `+labelCols+` FROM labels l WHERE l.id = ?`, id))
	return l, notFound(err)
}

// labelListing is the keys of ListLabels (Harbor's names).
var labelListing = listing{
	"id":            {expr: "l.id", kind: intValue},
	"name":          {expr: "l.name"},
	"description":   {expr: "l.description"},
	"color":         {expr: "l.color"},
	"creation_time": {expr: "l.created_at", kind: timeValue},
	"update_time":   {expr: "l.updated_at", kind: timeValue},
}

// ListLabels implements meta.LabelCatalog.
func (s *Store) ListLabels(ctx context.Context, q meta.LabelQuery) (_ []meta.Label, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	fixed, args := []string{`l.project_id IS NULL`}, []any(nil)
	if q.ProjectID != 0 {
		fixed, args = []string{`l.project_id = ?`}, []any{q.ProjectID}
	}
	where, args, err := s.where(labelListing, q.ListQuery, fixed, args)
	if err != nil {
		return nil, 0, err
	}
	order, err := labelListing.orderBy(q.ListQuery, "l.id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM labels l WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+labelCols+` FROM labels l WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.Label{}
	for rows.Next() {
		l, err := scanLabel(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *l)
	}
	return out, total, rows.Err()
}

// UpdateLabel implements meta.LabelCatalog.
func (s *Store) UpdateLabel(ctx context.Context, l *meta.Label) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	err = affected(s.exec(ctx, `UPDATE labels SET name = ?, description = ?, color = ?, updated_at = ? WHERE id = ?`,
		l.Name, l.Description, l.Color, t, l.ID))
	if err == nil {
		l.UpdatedAt = ms2t(t)
	}
	return err
}

// DeleteLabel implements meta.LabelCatalog; the label's rows in
// artifact_labels go with it (ON DELETE CASCADE).
func (s *Store) DeleteLabel(ctx context.Context, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM labels WHERE id = ?`, id))
}

// AddArtifactLabel implements meta.LabelCatalog. The manifest and the
// label are read locked (PostgreSQL), so neither can be deleted between
// the checks and the insert.
func (s *Store) AddArtifactLabel(ctx context.Context, repo string, d digest.Digest, labelID int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		var one int
		err := tx.queryRow(ctx, tx.forShare(`SELECT 1 FROM manifests WHERE repo = ? AND digest = ?`), repo, string(d)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrManifestNotFound
		} else if err != nil {
			return err
		}
		if err := tx.queryRow(ctx, tx.forShare(`SELECT 1 FROM labels WHERE id = ?`), labelID).Scan(&one); err != nil {
			return notFound(err)
		}
		res, err := tx.exec(ctx, `INSERT INTO artifact_labels (repo, digest, label_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (repo, digest, label_id) DO NOTHING`, repo, string(d), labelID, now())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return meta.ErrConflict
		}
		return nil
	})
}

// RemoveArtifactLabel implements meta.LabelCatalog.
func (s *Store) RemoveArtifactLabel(ctx context.Context, repo string, d digest.Digest, labelID int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM artifact_labels WHERE repo = ? AND digest = ? AND label_id = ?`,
		repo, string(d), labelID))
}

// ArtifactLabels implements meta.LabelCatalog with one query.
func (s *Store) ArtifactLabels(ctx context.Context, repo string, ds []digest.Digest) (_ map[digest.Digest][]meta.Label, err error) {
	out := map[digest.Digest][]meta.Label{}
	if len(ds) == 0 {
		return out, nil
	}
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	args := []any{repo}
	for _, d := range ds {
		args = append(args, string(d))
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", len(ds)), ", ")
	rows, err := s.query(ctx, `SELECT `+labelCols+`, al.digest FROM artifact_labels al JOIN labels l ON l.id = al.label_id
		WHERE al.repo = ? AND al.digest IN (`+in+`) ORDER BY l.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		l, err := scanLabel(rows, &d)
		if err != nil {
			return nil, err
		}
		out[digest.Digest(d)] = append(out[digest.Digest(d)], *l)
	}
	return out, rows.Err()
}

// matchLabels is the condition on an artifact's labels, by label id:
// labels=ID, labels={A B} (any of them), labels=(A B) (all of them).
func matchLabels(c meta.Cond) (string, []any, error) {
	const has = `EXISTS (SELECT 1 FROM artifact_labels al WHERE al.repo = m.repo AND al.digest = m.digest AND al.label_id`
	var ids []any
	for _, v := range c.Values {
		id, err := meta.ParseInt(c.Key, v)
		if err != nil {
			return "", nil, err
		}
		ids = append(ids, id)
	}
	switch c.Op {
	case meta.Equal:
		return has + ` = ?)`, ids, nil
	case meta.AnyOf:
		if len(ids) == 0 {
			return "1 = 0", nil, nil
		}
		return has + ` IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `))`, ids, nil
	case meta.AllOf:
		if len(ids) == 0 {
			return "1 = 0", nil, nil
		}
		return "(" + strings.TrimSuffix(strings.Repeat(has+` = ?) AND `, len(ids)), " AND ") + ")", ids, nil
	}
	return "", nil, errOp(c, "labels=ID, labels={A B} and labels=(A B), with label ids")
}

// allRepoListing is the keys of AllRepositories (Harbor's names).
var allRepoListing = listing{
	"name":          {expr: "r.name"},
	"repository_id": {expr: "r.id", kind: intValue},
	"project_id":    {expr: "p.id", kind: intValue},
	"creation_time": {expr: "r.created_at", kind: timeValue},
	"pull_count":    {expr: "r.pull_count", kind: intValue},
}

// AllRepositories implements meta.LabelCatalog: repositories joined with
// their project (by the name computed from theirs, indexed), restricted
// to the visible projects in the same query.
func (s *Store) AllRepositories(ctx context.Context, q meta.RepoQuery) (_ []meta.RepoInfo, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var fixed []string
	var args []any
	if !q.All {
		vis := []string{`p.public = 1`}
		if q.MemberOf != 0 {
			vis, args = append(vis, `p.id IN (SELECT project_id FROM project_members WHERE user_id = ?)`), append(args, q.MemberOf)
		}
		if len(q.ProjectIDs) > 0 {
			vis = append(vis, `p.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(q.ProjectIDs)), ", ")+`)`)
			for _, id := range q.ProjectIDs {
				args = append(args, id)
			}
		}
		fixed = []string{"(" + strings.Join(vis, " OR ") + ")"}
	}
	where, args, err := s.where(allRepoListing, q.ListQuery, fixed, args)
	if err != nil {
		return nil, 0, err
	}
	order, err := allRepoListing.orderBy(q.ListQuery, "r.name")
	if err != nil {
		return nil, 0, err
	}
	from := ` FROM repositories r JOIN projects p ON p.name = r.project WHERE ` + where
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+repoInfoCols+`, p.id`+from+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.RepoInfo{}
	for rows.Next() {
		var pid int64
		ri, err := scanRepoInfo(rows, &pid)
		if err != nil {
			return nil, 0, err
		}
		ri.ProjectID = pid
		out = append(out, *ri)
	}
	return out, total, rows.Err()
}

// SetRepositoryDescription implements meta.LabelCatalog.
func (s *Store) SetRepositoryDescription(ctx context.Context, repo, description string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	err = affected(s.exec(ctx, `UPDATE repositories SET description = ?, updated_at = ? WHERE name = ?`, description, now(), repo))
	if errors.Is(err, meta.ErrNotFound) {
		return meta.ErrRepoNotFound
	}
	return err
}
