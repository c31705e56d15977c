package sqlstore

import (
	"context"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.SigningStore = (*Store)(nil)

const signingKeyCols = `id, project_id, name, type, pem, creator, created_at`

func scanSigningKey(row interface{ Scan(...any) error }) (*meta.SigningKey, error) {
	var k meta.SigningKey
	var c int64
	if err := row.Scan(&k.ID, &k.ProjectID, &k.Name, &k.Type, &k.PEM, &k.Creator, &c); err != nil {
		return nil, notFound(err)
	}
	k.CreatedAt = ms2t(c)
	return &k, nil
}

// bumpSigningVersion bumps the version of a project's keys, in the
// transaction of the change.
func bumpSigningVersion(ctx context.Context, tx tx, projectID int64) error {
	_, err := tx.exec(ctx, `INSERT INTO signing_key_versions (project_id, version) VALUES (?, 1)
		ON CONFLICT (project_id) DO UPDATE SET version = signing_key_versions.version + 1`, projectID)
	return err
}

// CreateSigningKey implements meta.SigningStore. The project row is
// locked first (an UPDATE that changes nothing), so concurrent creations
// count the keys one after the other, on PostgreSQL too.
func (s *Store) CreateSigningKey(ctx context.Context, k *meta.SigningKey) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if err := affected(tx.exec(ctx, `UPDATE projects SET updated_at = updated_at WHERE id = ?`, k.ProjectID)); err != nil {
			return err
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM signing_keys WHERE project_id = ?`, k.ProjectID).Scan(&n); err != nil {
			return err
		}
		if n >= meta.MaxSigningKeys {
			return meta.ErrSigningKeyLimit
		}
		t := now()
		var id int64
		err := tx.queryRow(ctx, `INSERT INTO signing_keys (project_id, name, type, pem, creator, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, k.ProjectID, k.Name, k.Type, k.PEM, k.Creator, t).Scan(&id)
		if isUniqueViolation(err) {
			return meta.ErrConflict
		}
		if err != nil {
			return err
		}
		k.ID, k.CreatedAt = id, ms2t(t)
		return bumpSigningVersion(ctx, tx, k.ProjectID)
	})
}

// signingKeyListing is the keys of SigningKeys.
var signingKeyListing = listing{
	"id":   {expr: "id", kind: intValue},
	"name": {expr: "name"},
	"type": {expr: "type"},
}

// SigningKeys implements meta.SigningStore.
func (s *Store) SigningKeys(ctx context.Context, projectID int64, q meta.ListQuery) (_ []meta.SigningKey, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(signingKeyListing, q, []string{"project_id = ?"}, []any{projectID})
	if err != nil {
		return nil, 0, err
	}
	order, err := signingKeyListing.orderBy(q, "id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM signing_keys WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+signingKeyCols+` FROM signing_keys WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.SigningKey{}
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *k)
	}
	return out, total, rows.Err()
}

// SigningKey implements meta.SigningStore.
func (s *Store) SigningKey(ctx context.Context, projectID, id int64) (_ *meta.SigningKey, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanSigningKey(s.queryRow(ctx, `SELECT `+signingKeyCols+` FROM signing_keys WHERE id = ? AND project_id = ?`, id, projectID))
}

// DeleteSigningKey implements meta.SigningStore.
func (s *Store) DeleteSigningKey(ctx context.Context, projectID, id int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if err := affected(tx.exec(ctx, `DELETE FROM signing_keys WHERE id = ? AND project_id = ?`, id, projectID)); err != nil {
			return err
		}
		return bumpSigningVersion(ctx, tx, projectID)
	})
}

// SigningPolicies implements meta.SigningStore: the projects with either
// metadata key "true" or with a key version (they have or had keys).
func (s *Store) SigningPolicies(ctx context.Context) (_ []meta.SigningPolicy, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT p.id, p.name,
			EXISTS (SELECT 1 FROM project_metadata m WHERE m.project_id = p.id AND m.name = 'enable_content_trust_cosign' AND m.value = 'true'),
			EXISTS (SELECT 1 FROM project_metadata m WHERE m.project_id = p.id AND m.name = 'enable_content_trust' AND m.value = 'true'),
			COALESCE((SELECT v.version FROM signing_key_versions v WHERE v.project_id = p.id), 0)
		FROM projects p WHERE p.id IN (
			SELECT project_id FROM project_metadata WHERE name IN ('enable_content_trust_cosign', 'enable_content_trust') AND value = 'true'
			UNION SELECT project_id FROM signing_key_versions)
		ORDER BY p.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.SigningPolicy{}
	for rows.Next() {
		var p meta.SigningPolicy
		if err := rows.Scan(&p.ProjectID, &p.Project, &p.RequireCosign, &p.RequireNotation, &p.KeysVersion); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
