package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.OIDCStore = (*Store)(nil)

const oidcCols = `user_id, issuer, subject, secret_hash, secret_set_at, admin_by_group, groups, created_at, updated_at`

func scanOIDCUser(row interface{ Scan(...any) error }) (*meta.OIDCUser, error) {
	var o meta.OIDCUser
	var set, c, up int64
	var byGroup int
	var groups string
	if err := row.Scan(&o.UserID, &o.Issuer, &o.Subject, &o.SecretHash, &set, &byGroup, &groups, &c, &up); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal([]byte(groups), &o.Groups); err != nil {
		return nil, err
	}
	if set != 0 {
		o.SecretSetAt = ms2t(set)
	}
	o.AdminByGroup, o.CreatedAt, o.UpdatedAt = byGroup != 0, ms2t(c), ms2t(up)
	return &o, nil
}

// CreateOIDCUser implements meta.OIDCStore.
func (s *Store) CreateOIDCUser(ctx context.Context, u *meta.User, o *meta.OIDCUser) error {
	t := now()
	var id int64
	err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
		err := tx.queryRow(ctx, `INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, disabled, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, u.Username, u.Email, u.Realname, u.Comment, u.PasswordHash,
			b2i(u.SysAdmin), b2i(u.Disabled), t, t).Scan(&id)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO oidc_users (user_id, issuer, subject, secret_hash, secret_set_at, admin_by_group, groups, created_at, updated_at)
			VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)`, id, o.Issuer, o.Subject, o.SecretHash, b2i(o.AdminByGroup), groupsJSON(o.Groups), t, t)
		return err
	})
	if isUniqueViolation(err) {
		return meta.ErrConflict
	}
	if err != nil {
		return err
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, ms2t(t), ms2t(t)
	o.UserID, o.CreatedAt, o.UpdatedAt = id, ms2t(t), ms2t(t)
	return nil
}

// GetOIDCUser implements meta.OIDCStore.
func (s *Store) GetOIDCUser(ctx context.Context, userID int64) (_ *meta.OIDCUser, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanOIDCUser(s.queryRow(ctx, `SELECT `+oidcCols+` FROM oidc_users WHERE user_id = ?`, userID))
}

// GetOIDCUserBySubject implements meta.OIDCStore.
func (s *Store) GetOIDCUserBySubject(ctx context.Context, issuer, subject string) (_ *meta.OIDCUser, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return scanOIDCUser(s.queryRow(ctx, `SELECT `+oidcCols+` FROM oidc_users WHERE issuer = ? AND subject = ?`, issuer, subject))
}

// SetOIDCSecret implements meta.OIDCStore.
func (s *Store) SetOIDCSecret(ctx context.Context, userID int64, hash string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	return affected(s.exec(ctx, `UPDATE oidc_users SET secret_hash = ?, secret_set_at = ?, updated_at = ? WHERE user_id = ?`,
		hash, t, t, userID))
}

// SetOIDCAdmin implements meta.OIDCStore.
func (s *Store) SetOIDCAdmin(ctx context.Context, userID int64, sysAdmin, byGroup bool) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		if err := affected(tx.exec(ctx, `UPDATE oidc_users SET admin_by_group = ?, updated_at = ? WHERE user_id = ?`,
			b2i(byGroup), t, userID)); err != nil {
			return err
		}
		return affected(tx.exec(ctx, `UPDATE users SET sysadmin = ?, updated_at = ? WHERE id = ?`, b2i(sysAdmin), t, userID))
	})
}

func groupsJSON(groups []string) string {
	if groups == nil {
		groups = []string{}
	}
	b, _ := json.Marshal(groups)
	return string(b)
}

// SetOIDCGroups implements meta.OIDCStore.
func (s *Store) SetOIDCGroups(ctx context.Context, userID int64, groups []string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `UPDATE oidc_users SET groups = ?, updated_at = ? WHERE user_id = ?`, groupsJSON(groups), now(), userID))
}
