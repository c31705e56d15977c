package sqlstore

import (
	"context"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.RegistryStore = (*Store)(nil)

const registryCols = `id, name, description, type, url, credential_type, access_key, access_secret, insecure,
	ca_certificate, status, created_at, updated_at`

func scanRegistry(row interface{ Scan(...any) error }) (*meta.Registry, error) {
	var r meta.Registry
	var insecure int
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Name, &r.Description, &r.Type, &r.URL, &r.CredentialType, &r.AccessKey, &r.AccessSecret,
		&insecure, &r.CACertificate, &r.Status, &created, &updated); err != nil {
		return nil, err
	}
	r.Insecure, r.CreatedAt, r.UpdatedAt = insecure != 0, ms2t(created), ms2t(updated)
	return &r, nil
}

// CreateRegistry implements meta.RegistryStore.
func (s *Store) CreateRegistry(ctx context.Context, r *meta.Registry) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	id, err := s.insertReturningID(ctx, `INSERT INTO registries (name, description, type, url, credential_type, access_key,
		access_secret, insecure, ca_certificate, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.Description, r.Type, r.URL, r.CredentialType, r.AccessKey, r.AccessSecret, b2i(r.Insecure), r.CACertificate,
		r.Status, t, t)
	if err != nil {
		return err
	}
	r.ID, r.CreatedAt, r.UpdatedAt = id, ms2t(t), ms2t(t)
	return nil
}

// Registry implements meta.RegistryStore.
func (s *Store) Registry(ctx context.Context, id int64) (_ *meta.Registry, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	r, err := scanRegistry(s.queryRow(ctx, `SELECT `+registryCols+` FROM registries WHERE id = ?`, id))
	return r, notFound(err)
}

// registryListing is the keys of ListRegistries (Harbor's names).
var registryListing = listing{
	"id":            {expr: "id", kind: intValue},
	"name":          {expr: "name"},
	"type":          {expr: "type"},
	"url":           {expr: "url"},
	"description":   {expr: "description"},
	"status":        {expr: "status"},
	"creation_time": {expr: "created_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
}

// ListRegistries implements meta.RegistryStore.
func (s *Store) ListRegistries(ctx context.Context, q meta.ListQuery) (_ []meta.Registry, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	where, args, err := s.where(registryListing, q, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	order, err := registryListing.orderBy(q, "id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM registries WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+registryCols+` FROM registries WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.Registry{}
	for rows.Next() {
		r, err := scanRegistry(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *r)
	}
	return out, total, rows.Err()
}

// UpdateRegistry implements meta.RegistryStore.
func (s *Store) UpdateRegistry(ctx context.Context, r *meta.Registry) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	err = affected(s.exec(ctx, `UPDATE registries SET name = ?, description = ?, type = ?, url = ?, credential_type = ?,
		access_key = ?, access_secret = ?, insecure = ?, ca_certificate = ?, updated_at = ? WHERE id = ?`,
		r.Name, r.Description, r.Type, r.URL, r.CredentialType, r.AccessKey, r.AccessSecret, b2i(r.Insecure), r.CACertificate,
		t, r.ID))
	if err == nil {
		r.UpdatedAt = ms2t(t)
	}
	return err
}

// SetRegistryStatus implements meta.RegistryStore.
func (s *Store) SetRegistryStatus(ctx context.Context, id int64, status string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `UPDATE registries SET status = ? WHERE id = ?`, status, id))
}

// DeleteRegistry implements meta.RegistryStore: the policies' foreign keys
// (RESTRICT) refuse it while one uses the registry.
func (s *Store) DeleteRegistry(ctx context.Context, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	err = affected(s.exec(ctx, `DELETE FROM registries WHERE id = ?`, id))
	if isFKViolation(err) {
		return meta.ErrInUse
	}
	return err
}

const replicationPolicyCols = `id, name, COALESCE(src_registry_id, 0), COALESCE(dest_registry_id, 0), enabled, policy,
	created_at, updated_at`

func scanReplicationPolicy(row interface{ Scan(...any) error }) (*meta.ReplicationPolicy, error) {
	var p meta.ReplicationPolicy
	var enabled int
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Name, &p.SrcRegistryID, &p.DestRegistryID, &enabled, &p.Policy, &created, &updated); err != nil {
		return nil, err
	}
	p.Enabled, p.CreatedAt, p.UpdatedAt = enabled != 0, ms2t(created), ms2t(updated)
	return &p, nil
}

// CreateReplicationPolicy implements meta.RegistryStore.
func (s *Store) CreateReplicationPolicy(ctx context.Context, p *meta.ReplicationPolicy) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	id, err := s.insertReturningID(ctx, `INSERT INTO replication_policies (name, src_registry_id, dest_registry_id, enabled,
		policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.Name, nullID(p.SrcRegistryID), nullID(p.DestRegistryID), b2i(p.Enabled), p.Policy, t, t)
	if isFKViolation(err) {
		return meta.ErrNotFound
	}
	if err != nil {
		return err
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, ms2t(t), ms2t(t)
	return nil
}

// ReplicationPolicy implements meta.RegistryStore.
func (s *Store) ReplicationPolicy(ctx context.Context, id int64) (_ *meta.ReplicationPolicy, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	p, err := scanReplicationPolicy(s.queryRow(ctx, `SELECT `+replicationPolicyCols+` FROM replication_policies WHERE id = ?`, id))
	return p, notFound(err)
}

// replicationPolicyListing is the keys of ListReplicationPolicies.
var replicationPolicyListing = listing{
	"id":               {expr: "id", kind: intValue},
	"name":             {expr: "name"},
	"enabled":          {expr: "enabled", kind: boolValue},
	"src_registry_id":  {expr: "COALESCE(src_registry_id, 0)", kind: intValue},
	"dest_registry_id": {expr: "COALESCE(dest_registry_id, 0)", kind: intValue},
	"creation_time":    {expr: "created_at", kind: timeValue},
	"update_time":      {expr: "updated_at", kind: timeValue},
}

// ListReplicationPolicies implements meta.RegistryStore.
func (s *Store) ListReplicationPolicies(ctx context.Context, q meta.ListQuery) (_ []meta.ReplicationPolicy, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	where, args, err := s.where(replicationPolicyListing, q, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	order, err := replicationPolicyListing.orderBy(q, "id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM replication_policies WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+replicationPolicyCols+` FROM replication_policies WHERE `+where+` ORDER BY `+order+
		` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.ReplicationPolicy{}
	for rows.Next() {
		p, err := scanReplicationPolicy(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *p)
	}
	return out, total, rows.Err()
}

// UpdateReplicationPolicy implements meta.RegistryStore.
func (s *Store) UpdateReplicationPolicy(ctx context.Context, p *meta.ReplicationPolicy) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	err = affected(s.exec(ctx, `UPDATE replication_policies SET name = ?, src_registry_id = ?, dest_registry_id = ?, enabled = ?,
		policy = ?, updated_at = ? WHERE id = ?`,
		p.Name, nullID(p.SrcRegistryID), nullID(p.DestRegistryID), b2i(p.Enabled), p.Policy, t, p.ID))
	if isFKViolation(err) {
		return meta.ErrNotFound
	}
	if err == nil {
		p.UpdatedAt = ms2t(t)
	}
	return err
}

// DeleteReplicationPolicy implements meta.RegistryStore.
func (s *Store) DeleteReplicationPolicy(ctx context.Context, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM replication_policies WHERE id = ?`, id))
}
