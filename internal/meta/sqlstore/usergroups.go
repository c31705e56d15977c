package sqlstore

import (
	"context"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.UserGroupStore = (*Store)(nil)

const userGroupCols = `g.id, g.name, g.group_type, g.ldap_group_dn, g.created_at, g.updated_at`

func scanUserGroup(row interface{ Scan(...any) error }) (*meta.UserGroup, error) {
	var g meta.UserGroup
	var c, u int64
	if err := row.Scan(&g.ID, &g.Name, &g.Type, &g.LDAPDN, &c, &u); err != nil {
		return nil, notFound(err)
	}
	g.CreatedAt, g.UpdatedAt = ms2t(c), ms2t(u)
	return &g, nil
}

func qmarks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// CreateUserGroup implements meta.UserGroupStore.
func (s *Store) CreateUserGroup(ctx context.Context, g *meta.UserGroup) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	id, err := s.insertReturningID(ctx, `INSERT INTO user_groups (name, group_type, ldap_group_dn, group_key, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, g.Name, g.Type, g.LDAPDN, g.Key(), t, t)
	if err != nil {
		return err
	}
	g.ID, g.CreatedAt, g.UpdatedAt = id, ms2t(t), ms2t(t)
	return nil
}

// GetUserGroup implements meta.UserGroupStore.
func (s *Store) GetUserGroup(ctx context.Context, id int64) (_ *meta.UserGroup, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanUserGroup(s.queryRow(ctx, `SELECT `+userGroupCols+` FROM user_groups g WHERE g.id = ?`, id))
}

var userGroupListing = listing{
	"id":         {expr: "g.id", kind: intValue},
	"group_name": {expr: "g.name"},
	"group_type": {expr: "g.group_type", kind: intValue},
	"ldap_group_dn": {match: func(c meta.Cond) (string, []any, error) {
		if c.Op != meta.Equal {
			return "", nil, errOp(c, "exact match")
		}
		return `g.group_type = 1 AND g.group_key = ?`, []any{strings.ToLower(c.Values[0])}, nil
	}},
}

// ListUserGroups implements meta.UserGroupStore.
func (s *Store) ListUserGroups(ctx context.Context, q meta.ListQuery) (_ []meta.UserGroup, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	where, args, err := s.where(userGroupListing, q, []string{"1 = 1"}, nil)
	if err != nil {
		return nil, 0, err
	}
	order, err := userGroupListing.orderBy(q, "g.id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM user_groups g WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+userGroupCols+` FROM user_groups g WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.UserGroup{}
	for rows.Next() {
		g, err := scanUserGroup(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *g)
	}
	return out, total, rows.Err()
}

// maxFind bounds the keys of one FindUserGroups query (a user in more
// directory groups is matched in several queries).
const maxFind = 500

// FindUserGroups implements meta.UserGroupStore.
func (s *Store) FindUserGroups(ctx context.Context, typ int, keys []string) (_ []meta.UserGroup, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := []meta.UserGroup{}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), maxFind)]
		keys = keys[len(batch):]
		args := []any{typ}
		for _, k := range batch {
			args = append(args, strings.ToLower(k))
		}
		rows, err := s.query(ctx, `SELECT `+userGroupCols+` FROM user_groups g WHERE g.group_type = ? AND g.group_key IN (`+
			qmarks(len(batch))+`) ORDER BY g.id`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			g, err := scanUserGroup(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, *g)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateUserGroup implements meta.UserGroupStore (the name; for groups
// identified by their name, the key too).
func (s *Store) UpdateUserGroup(ctx context.Context, g *meta.UserGroup) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	err = affected(s.exec(ctx, `UPDATE user_groups SET name = ?, group_key = CASE WHEN group_type = 1 THEN group_key ELSE ? END,
		updated_at = ? WHERE id = ?`, g.Name, strings.ToLower(g.Name), t, g.ID))
	if err == nil {
		g.UpdatedAt = ms2t(t)
	}
	return err
}

// DeleteUserGroup implements meta.UserGroupStore; its memberships go with
// it (ON DELETE CASCADE).
func (s *Store) DeleteUserGroup(ctx context.Context, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM user_groups WHERE id = ?`, id))
}

// SetGroupMember implements meta.UserGroupStore.
func (s *Store) SetGroupMember(ctx context.Context, projectID, groupID int64, role int) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	_, err = s.exec(ctx, `INSERT INTO project_group_members (project_id, group_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, group_id) DO UPDATE SET role = excluded.role`, projectID, groupID, role, now())
	if isFKViolation(err) {
		return meta.ErrNotFound
	}
	return err
}

// RemoveGroupMember implements meta.UserGroupStore.
func (s *Store) RemoveGroupMember(ctx context.Context, projectID, groupID int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM project_group_members WHERE project_id = ? AND group_id = ?`, projectID, groupID))
}

// ListGroupMembers implements meta.UserGroupStore.
func (s *Store) ListGroupMembers(ctx context.Context, projectID int64) (_ []meta.GroupMember, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT m.group_id, g.name, g.group_type, m.role FROM project_group_members m
		JOIN user_groups g ON g.id = m.group_id WHERE m.project_id = ? ORDER BY g.name, g.id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.GroupMember{}
	for rows.Next() {
		m := meta.GroupMember{ProjectID: projectID}
		if err := rows.Scan(&m.GroupID, &m.GroupName, &m.GroupType, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// GroupRoles implements meta.UserGroupStore.
func (s *Store) GroupRoles(ctx context.Context, projectID int64, groupIDs []int64) (_ []int, err error) {
	if len(groupIDs) == 0 {
		return nil, nil
	}
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var out []int
	for len(groupIDs) > 0 {
		batch := groupIDs[:min(len(groupIDs), maxFind)]
		groupIDs = groupIDs[len(batch):]
		args := []any{projectID}
		for _, id := range batch {
			args = append(args, id)
		}
		rows, err := s.query(ctx, `SELECT role FROM project_group_members WHERE project_id = ? AND group_id IN (`+qmarks(len(batch))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r int
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, r)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
