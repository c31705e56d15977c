package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.AccessStore = (*Store)(nil)

// isUniqueViolation recognizes a unique-constraint failure on SQLite and
// PostgreSQL (SQLSTATE 23505).
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "23505") || strings.Contains(s, "duplicate key")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ms2t(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func t2ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return meta.ErrNotFound
	}
	return err
}

// pageArgs turns a 1-based page into LIMIT/OFFSET, bounded.
func pageArgs(p meta.Page) (limit, offset int) {
	size := p.Size
	if size <= 0 {
		size = 10
	}
	size = min(size, meta.MaxListSize)
	page := max(p.Page, 1)
	return size, (page - 1) * size
}

// insertReturningID runs an INSERT ... RETURNING id.
func (s *Store) insertReturningID(ctx context.Context, q string, args ...any) (int64, error) {
	var id int64
	err := s.w.QueryRowContext(ctx, s.b.bind(q+" RETURNING id"), args...).Scan(&id)
	if isUniqueViolation(err) {
		return 0, meta.ErrConflict
	}
	return id, err
}

func affected(res sql.Result, err error) error {
	if err != nil {
		if isUniqueViolation(err) {
			return meta.ErrConflict
		}
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return meta.ErrNotFound
	}
	return nil
}

const userCols = `id, username, email, realname, comment, password_hash, sysadmin, disabled, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*meta.User, error) {
	var u meta.User
	var admin, disabled int
	var c, up int64
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Realname, &u.Comment, &u.PasswordHash, &admin, &disabled, &c, &up); err != nil {
		return nil, notFound(err)
	}
	u.SysAdmin, u.Disabled, u.CreatedAt, u.UpdatedAt = admin != 0, disabled != 0, ms2t(c), ms2t(up)
	return &u, nil
}

// CreateUser implements meta.AccessStore.
func (s *Store) CreateUser(ctx context.Context, u *meta.User) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	id, err := s.insertReturningID(ctx, `INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, disabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, u.Username, u.Email, u.Realname, u.Comment, u.PasswordHash, b2i(u.SysAdmin), b2i(u.Disabled), t, t)
	if err == nil {
		u.ID, u.CreatedAt, u.UpdatedAt = id, ms2t(t), ms2t(t)
	}
	return err
}

// GetUser implements meta.AccessStore.
func (s *Store) GetUser(ctx context.Context, id int64) (_ *meta.User, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// GetUserByName implements meta.AccessStore.
func (s *Store) GetUserByName(ctx context.Context, name string) (_ *meta.User, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, name))
}

// ListUsers implements meta.AccessStore.
func (s *Store) ListUsers(ctx context.Context, q meta.ListQuery) (_ []meta.User, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(userListing, q, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	order, err := userListing.orderBy(q, "id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+userCols+` FROM users WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *u)
	}
	return out, total, rows.Err()
}

// userListing is the keys of ListUsers (Harbor's names).
var userListing = listing{
	"username":      {expr: "username"},
	"email":         {expr: "email"},
	"realname":      {expr: "realname"},
	"user_id":       {expr: "id", kind: intValue},
	"sysadmin_flag": {expr: "sysadmin", kind: boolValue},
	"creation_time": {expr: "created_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
}

// escapeLike makes %, _ and \ in s match themselves in a LIKE pattern
// with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// containsFold is the pattern for dialect.likeFold that matches names
// containing q, whatever the case of its ASCII letters; q's %, _ and \
// are literal.
func containsFold(q string) string {
	lower := strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, q)
	return "%" + escapeLike(lower) + "%"
}

// UpdateUser implements meta.AccessStore (all mutable fields).
func (s *Store) UpdateUser(ctx context.Context, u *meta.User) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	err = affected(s.exec(ctx, `UPDATE users SET email = ?, realname = ?, comment = ?, password_hash = ?, sysadmin = ?, disabled = ?, updated_at = ?
		WHERE id = ?`, u.Email, u.Realname, u.Comment, u.PasswordHash, b2i(u.SysAdmin), b2i(u.Disabled), t, u.ID))
	if err == nil {
		u.UpdatedAt = ms2t(t)
	}
	return err
}

// DeleteUser implements meta.AccessStore; memberships go with the user.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM project_members WHERE user_id = ?`, id); err != nil {
			return err
		}
		return affected(tx.exec(ctx, `DELETE FROM users WHERE id = ?`, id))
	})
}

const projectCols = `id, name, public, owner_id, created_at, updated_at`

func scanProject(row interface{ Scan(...any) error }) (*meta.Project, error) {
	var p meta.Project
	var public int
	var c, up int64
	if err := row.Scan(&p.ID, &p.Name, &public, &p.OwnerID, &c, &up); err != nil {
		return nil, notFound(err)
	}
	p.Public, p.CreatedAt, p.UpdatedAt = public != 0, ms2t(c), ms2t(up)
	return &p, nil
}

// CreateProject implements meta.AccessStore. The owner becomes its
// project admin in the same transaction.
func (s *Store) CreateProject(ctx context.Context, p *meta.Project) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error { return createProject(ctx, tx, p) })
}

// createProject inserts p and makes its owner its project admin, in tx.
func createProject(ctx context.Context, tx tx, p *meta.Project) error {
	t := now()
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO projects (name, public, owner_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		p.Name, b2i(p.Public), p.OwnerID, t, t).Scan(&id)
	if isUniqueViolation(err) {
		return meta.ErrConflict
	}
	if err != nil {
		return err
	}
	if p.OwnerID != 0 {
		if _, err := tx.exec(ctx, `INSERT INTO project_members (project_id, user_id, role, created_at) VALUES (?, ?, 1, ?)`,
			id, p.OwnerID, t); err != nil {
			return err
		}
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, ms2t(t), ms2t(t)
	return nil
}

// GetProject implements meta.AccessStore.
func (s *Store) GetProject(ctx context.Context, id int64) (_ *meta.Project, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanProject(s.queryRow(ctx, `SELECT `+projectCols+` FROM projects WHERE id = ?`, id))
}

// GetProjectByName implements meta.AccessStore.
func (s *Store) GetProjectByName(ctx context.Context, name string) (_ *meta.Project, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanProject(s.queryRow(ctx, `SELECT `+projectCols+` FROM projects WHERE name = ?`, name))
}

// ListProjects implements meta.AccessStore.
func (s *Store) ListProjects(ctx context.Context, q meta.ProjectQuery) (_ []meta.Project, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var fixed []string
	var args []any
	if q.VisibleTo != 0 {
		groups := ""
		if n := len(q.VisibleToGroups); n > 0 {
			groups = ` OR id IN (SELECT project_id FROM project_group_members WHERE group_id IN (` + qmarks(n) + `))`
		}
		fixed = append(fixed, `(public = 1 OR id IN (SELECT project_id FROM project_members WHERE user_id = ?)`+groups+`)`)
		args = append(args, q.VisibleTo)
		for _, g := range q.VisibleToGroups {
			args = append(args, g)
		}
	}
	cond, args, err := s.where(projectListing, q.ListQuery, fixed, args)
	if err != nil {
		return nil, 0, err
	}
	order, err := projectListing.orderBy(q.ListQuery, "name, id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM projects WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+projectCols+` FROM projects WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *p)
	}
	return out, total, rows.Err()
}

// projectListing is the keys of ListProjects (Harbor's names).
var projectListing = listing{
	"name":          {expr: "name"},
	"project_id":    {expr: "id", kind: intValue},
	"public":        {expr: "public", kind: boolValue},
	"owner_id":      {expr: "owner_id", kind: intValue},
	"creation_time": {expr: "created_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
	// owner: the owner's user name, exact.
	"owner": {match: func(c meta.Cond) (string, []any, error) {
		if c.Op != meta.Equal {
			return "", nil, errOp(c, "owner=NAME")
		}
		return `owner_id IN (SELECT id FROM users WHERE username = ?)`, []any{c.Values[0]}, nil
	}},
}

// UpdateProject implements meta.AccessStore.
func (s *Store) UpdateProject(ctx context.Context, p *meta.Project) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `UPDATE projects SET public = ?, owner_id = ?, updated_at = ? WHERE id = ?`,
		b2i(p.Public), p.OwnerID, now(), p.ID))
}

// DeleteProject implements meta.AccessStore. Members and project robots go
// with it; the caller checks the project holds no repositories.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM project_members WHERE project_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM robots WHERE project_id = ?`, id); err != nil {
			return err
		}
		return affected(tx.exec(ctx, `DELETE FROM projects WHERE id = ?`, id))
	})
}

// SetMember implements meta.AccessStore (insert or change the role).
func (s *Store) SetMember(ctx context.Context, projectID, userID int64, role int) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	_, err = s.exec(ctx, `INSERT INTO project_members (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, projectID, userID, role, now())
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY") || err != nil && strings.Contains(err.Error(), "23503") {
		return meta.ErrNotFound
	}
	return err
}

// RemoveMember implements meta.AccessStore.
func (s *Store) RemoveMember(ctx context.Context, projectID, userID int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM project_members WHERE project_id = ? AND user_id = ?`, projectID, userID))
}

// MemberRole implements meta.AccessStore.
func (s *Store) MemberRole(ctx context.Context, projectID, userID int64) (_ int, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var role int
	err = s.queryRow(ctx, `SELECT role FROM project_members WHERE project_id = ? AND user_id = ?`, projectID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return role, err
}

// ListMembers implements meta.AccessStore.
func (s *Store) ListMembers(ctx context.Context, projectID int64) (_ []meta.Member, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT m.user_id, u.username, m.role FROM project_members m JOIN users u ON u.id = m.user_id
		WHERE m.project_id = ? ORDER BY u.username`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Member{}
	for rows.Next() {
		m := meta.Member{ProjectID: projectID}
		if err := rows.Scan(&m.UserID, &m.Username, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

const robotCols = `id, name, description, level, project_id, secret_hash, disabled, expires_at, permissions, creator_type, creator_ref, created_at, updated_at`

func scanRobot(row interface{ Scan(...any) error }) (*meta.Robot, error) {
	var r meta.Robot
	var disabled int
	var exp, c, up int64
	var perms string
	if err := row.Scan(&r.ID, &r.Name, &r.Description, &r.Level, &r.ProjectID, &r.SecretHash, &disabled, &exp, &perms, &r.CreatorType, &r.CreatorRef, &c, &up); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
		return nil, err
	}
	r.Disabled, r.ExpiresAt, r.CreatedAt, r.UpdatedAt = disabled != 0, ms2t(exp), ms2t(c), ms2t(up)
	return &r, nil
}

// CreateRobot implements meta.AccessStore.
func (s *Store) CreateRobot(ctx context.Context, r *meta.Robot) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	perms, err := s.robotPermissionsJSON(ctx, r.Permissions)
	if err != nil {
		return err
	}
	t := now()
	id, err := s.insertReturningID(ctx, `INSERT INTO robots (name, description, level, project_id, secret_hash, disabled, expires_at, permissions,
		creator_type, creator_ref, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.Description, r.Level, r.ProjectID, r.SecretHash, b2i(r.Disabled), t2ms(r.ExpiresAt), perms, r.CreatorType, r.CreatorRef, t, t)
	if err == nil {
		r.ID, r.CreatedAt, r.UpdatedAt = id, ms2t(t), ms2t(t)
	}
	return err
}

// GetRobot implements meta.AccessStore.
func (s *Store) GetRobot(ctx context.Context, id int64) (_ *meta.Robot, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return s.oneRobot(ctx, s.queryRow(ctx, `SELECT `+robotCols+` FROM robots WHERE id = ?`, id))
}

// oneRobot scans a robot and names the projects of its permissions.
func (s *Store) oneRobot(ctx context.Context, row *sql.Row) (*meta.Robot, error) {
	r, err := scanRobot(row)
	if err != nil {
		return nil, err
	}
	return r, s.nameRobotProjects(ctx, r)
}

// GetRobotByName implements meta.AccessStore.
func (s *Store) GetRobotByName(ctx context.Context, name string) (_ *meta.Robot, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return s.oneRobot(ctx, s.queryRow(ctx, `SELECT `+robotCols+` FROM robots WHERE name = ?`, name))
}

// ListRobots implements meta.AccessStore.
func (s *Store) ListRobots(ctx context.Context, projectID int64, q meta.ListQuery) (_ []meta.Robot, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	level := "project"
	if projectID == 0 {
		level = "system"
	}
	cond, args, err := s.where(robotListing, q, []string{"project_id = ?", "level = ?"}, []any{projectID, level})
	if err != nil {
		return nil, 0, err
	}
	order, err := robotListing.orderBy(q, "id")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM robots WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+robotCols+` FROM robots WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.Robot{}
	for rows.Next() {
		r, err := scanRobot(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	robots := make([]*meta.Robot, len(out))
	for i := range out {
		robots[i] = &out[i]
	}
	return out, total, s.nameRobotProjects(ctx, robots...)
}

// robotListing is the keys of ListRobots (Harbor's names).
var robotListing = listing{
	// name: Harbor stores a robot's name without the "robot$" prefix and
	// harbor-cli looks robots up by that bare name (q=name=ci); berth
	// stores the full name, so a value without the prefix is compared
	// with the name after it.
	"name": {match: func(c meta.Cond) (string, []any, error) {
		expr := func(v string) string {
			if strings.HasPrefix(v, meta.RobotPrefix) {
				return "name"
			}
			return "SUBSTR(name, " + strconv.Itoa(len(meta.RobotPrefix)+1) + ")"
		}
		switch c.Op {
		case meta.Equal:
			return expr(c.Values[0]) + " = ?", []any{c.Values[0]}, nil
		case meta.Fuzzy:
			return "name LIKE ? ESCAPE '\\'", []any{"%" + escapeLike(c.Values[0]) + "%"}, nil
		case meta.AnyOf:
			if len(c.Values) == 0 {
				return "1 = 0", nil, nil
			}
			var parts []string
			var args []any
			for _, v := range c.Values {
				parts, args = append(parts, expr(v)+" = ?"), append(args, v)
			}
			return "(" + strings.Join(parts, " OR ") + ")", args, nil
		}
		return "", nil, errOp(c, "name=NAME, name=~PART and name={A B}")
	}},
	"description":   {expr: "description"},
	"disabled":      {expr: "disabled", kind: boolValue},
	"id":            {expr: "id", kind: intValue},
	"creation_time": {expr: "created_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
	"expires_at":    {expr: "expires_at", kind: timeValue},
}

// robotPermissionsJSON is the stored form of perms: each with the id of
// its project, a permission given only a name resolved to the project of
// that name now (meta.ErrNotFound if there is none).
func (s *Store) robotPermissionsJSON(ctx context.Context, perms []meta.RobotPermission) (string, error) {
	for i := range perms {
		p := &perms[i]
		if p.Project == "*" {
			p.ProjectID = 0
			continue
		}
		if p.ProjectID != 0 {
			continue
		}
		if err := s.queryRow(ctx, `SELECT id FROM projects WHERE name = ?`, p.Project).Scan(&p.ProjectID); err != nil {
			return "", notFound(err)
		}
	}
	b, err := json.Marshal(perms)
	return string(b), err
}

// nameRobotProjects sets each permission's Project to the current name of
// its project, "" if it was deleted ("*" stays), with one query.
func (s *Store) nameRobotProjects(ctx context.Context, robots ...*meta.Robot) error {
	var ids []any
	for _, r := range robots {
		for _, p := range r.Permissions {
			if p.ProjectID != 0 {
				ids = append(ids, p.ProjectID)
			}
		}
	}
	names := map[int64]string{}
	if len(ids) > 0 {
		in := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		rows, err := s.query(ctx, `SELECT id, name FROM projects WHERE id IN (`+in+`)`, ids...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				return err
			}
			names[id] = name
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, r := range robots {
		for i := range r.Permissions {
			if p := &r.Permissions[i]; p.Project != "*" {
				p.Project = names[p.ProjectID]
			}
		}
	}
	return nil
}

// UpdateRobot implements meta.AccessStore.
func (s *Store) UpdateRobot(ctx context.Context, r *meta.Robot) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	perms, err := s.robotPermissionsJSON(ctx, r.Permissions)
	if err != nil {
		return err
	}
	return affected(s.exec(ctx, `UPDATE robots SET description = ?, secret_hash = ?, disabled = ?, expires_at = ?, permissions = ?, updated_at = ?
		WHERE id = ?`, r.Description, r.SecretHash, b2i(r.Disabled), t2ms(r.ExpiresAt), perms, now(), r.ID))
}

// DeleteRobot implements meta.AccessStore.
func (s *Store) DeleteRobot(ctx context.Context, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM robots WHERE id = ?`, id))
}

// AppendAudit implements meta.AccessStore: one transaction per batch.
func (s *Store) AppendAudit(ctx context.Context, recs []meta.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		for _, r := range recs {
			// A record that names its project only gets the id of the
			// project of that name now, 0 if there is none.
			projectID, idArgs := `?`, []any{r.ProjectID}
			if r.ProjectID == 0 && r.Project != "" {
				projectID, idArgs = `COALESCE((SELECT id FROM projects WHERE name = ?), 0)`, []any{r.Project}
			}
			args := append([]any{t2ms(r.At), r.Username, r.Remote, r.Operation, r.ResourceType, r.Resource, r.Project}, idArgs...)
			if _, err := tx.exec(ctx, `INSERT INTO audit_log (at, username, remote, operation, resource_type, resource, project, project_id, success)
				VALUES (?, ?, ?, ?, ?, ?, ?, `+projectID+`, ?)`, append(args, b2i(r.Success))...); err != nil {
				return err
			}
		}
		return nil
	})
}

// auditListing is the keys of ListAudit (Harbor's names).
var auditListing = listing{
	"username":      {expr: "username"},
	"operation":     {expr: "operation"},
	"resource":      {expr: "resource"},
	"resource_type": {expr: "resource_type"},
	"op_time":       {expr: "at", kind: timeValue},
	"project":       {expr: "project"},
	"id":            {expr: "id", kind: intValue},
}

// ListAudit implements meta.AccessStore, newest first.
func (s *Store) ListAudit(ctx context.Context, q meta.AuditQuery) (_ []meta.AuditRecord, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var fixed []string
	var args []any
	if q.ProjectID != 0 {
		fixed = append(fixed, "project_id = ?")
		args = append(args, q.ProjectID)
	}
	cond, args, err := s.where(auditListing, q.ListQuery, fixed, args)
	if err != nil {
		return nil, 0, err
	}
	order, err := auditListing.orderBy(q.ListQuery, "at DESC, id DESC")
	if err != nil {
		return nil, 0, err
	}
	cond = " WHERE " + cond
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM audit_log`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT id, at, username, remote, operation, resource_type, resource, project, project_id, success FROM audit_log`+
		cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.AuditRecord{}
	for rows.Next() {
		var r meta.AuditRecord
		var at int64
		var ok int
		if err := rows.Scan(&r.ID, &at, &r.Username, &r.Remote, &r.Operation, &r.ResourceType, &r.Resource, &r.Project, &r.ProjectID, &ok); err != nil {
			return nil, 0, err
		}
		r.At, r.Success = ms2t(at), ok != 0
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// PruneAudit implements meta.AccessStore.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	res, err := s.exec(ctx, `DELETE FROM audit_log WHERE at < ?`, before.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
