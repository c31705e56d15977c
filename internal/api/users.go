package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// user is Harbor's UserResp. It never carries the password hash.
type user struct {
	UserID          int64  `json:"user_id"`
	Username        string `json:"username"`
	Email           string `json:"email"`
	Realname        string `json:"realname"`
	Comment         string `json:"comment"`
	SysadminFlag    bool   `json:"sysadmin_flag"`
	AdminRoleInAuth bool   `json:"admin_role_in_auth"`
	// OIDCUserMeta is Harbor's OIDCUserInfo of a user onboarded through
	// OIDC (null for others), on reads of one user (oidc.go).
	OIDCUserMeta *oidcUserMeta `json:"oidc_user_meta"`
	// Disabled is berth's addition: a disabled account cannot log in.
	Disabled     bool       `json:"disabled"`
	CreationTime harborTime `json:"creation_time"`
	UpdateTime   harborTime `json:"update_time"`
}

func userJSON(u *meta.User) user {
	return user{UserID: u.ID, Username: u.Username, Email: u.Email, Realname: u.Realname, Comment: u.Comment,
		SysadminFlag: u.SysAdmin, Disabled: u.Disabled, CreationTime: harborTime(u.CreatedAt), UpdateTime: harborTime(u.UpdatedAt)}
}

// userCreationReq is Harbor's UserCreationReq.
type userCreationReq struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Realname string `json:"realname"`
	Comment  string `json:"comment"`
	Password string `json:"password"`
}

// checkPassword applies Harbor's rule: 8 to 128 characters (bcrypt takes
// 72 bytes) with an upper-case letter, a lower-case letter and a digit.
func checkPassword(pw string) error {
	var upper, lower, digit bool
	for _, c := range pw {
		upper = upper || unicode.IsUpper(c)
		lower = lower || unicode.IsLower(c)
		digit = digit || unicode.IsDigit(c)
	}
	if len(pw) < 8 || len(pw) > auth.MaxPasswordLength || !upper || !lower || !digit {
		return errBadRequest(fmt.Sprintf("password must be 8 to %d characters with at least one uppercase letter, one lowercase letter and one number",
			auth.MaxPasswordLength))
	}
	return nil
}

func requireAdmin(r *http.Request) error {
	id := auth.FromContext(r.Context())
	if !id.SysAdmin {
		return deny(r.Context(), "do this (system administrators only)")
	}
	return nil
}

// userFor resolves {user_id}; only the user themself or an administrator
// may address a user.
func (s *Server) userFor(r *http.Request) (*meta.User, error) {
	id := auth.FromContext(r.Context())
	if id.Kind != auth.UserKind {
		return nil, deny(r.Context(), "manage users")
	}
	uid, err := strconv.ParseInt(r.PathValue("user_id"), 10, 64)
	if err != nil {
		return nil, errBadRequest("invalid user id")
	}
	if uid != id.UserID && !id.SysAdmin {
		return nil, errForbidden("only system administrators may manage other users")
	}
	u, err := s.opt.Access.GetUser(r.Context(), uid)
	if isNotFound(err) {
		return nil, errNotFound(fmt.Sprintf("user %d not found", uid))
	}
	return u, err
}

// listUsers: GET /users (administrators; username= or q=username=~x).
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	if v := r.URL.Query().Get("username"); v != "" { // contains, as q=username=~v
		lq = lq.With(meta.Cond{Key: "username", Op: meta.Fuzzy, Values: []string{v}})
	}
	list, total, err := s.opt.Access.ListUsers(r.Context(), lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, userJSON)
}

// createUser: POST /users (administrators).
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	if err := s.requireDBAuth(); err != nil {
		return err
	}
	var req userCreationReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Username == "" || len(req.Username) > 255 || strings.HasPrefix(req.Username, auth.RobotPrefix) ||
		strings.ContainsAny(req.Username, `,"~#$%:`) {
		return errBadRequest("invalid username")
	}
	if err := checkPassword(req.Password); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return errBadRequest(err.Error())
	}
	u := &meta.User{Username: req.Username, Email: req.Email, Realname: req.Realname, Comment: req.Comment, PasswordHash: hash}
	if err := s.opt.Access.CreateUser(r.Context(), u); errors.Is(err, meta.ErrConflict) {
		return errConflict("username " + req.Username + " is already used")
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "user", u.Username, nil)
	return created(w, Prefix+"/users/"+strconv.FormatInt(u.ID, 10))
}

// currentUser: GET /users/current. A robot is no user: 412, as Harbor
// answers for any caller but a local user (harbor-cli's login then checks
// the credentials on another operation; 403 would fail it).
func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) error {
	id := auth.FromContext(r.Context())
	switch id.Kind {
	case auth.Anonymous:
		return errUnauthorized("authentication required to read the current user")
	case auth.RobotKind:
		return errPrecondition("get current user not available for security context: robot")
	}
	u, err := s.opt.Access.GetUser(r.Context(), id.UserID)
	if err != nil {
		return err
	}
	return s.writeOneUser(w, r, u, true)
}

// getUser: GET /users/{user_id}.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFor(r)
	if err != nil {
		return err
	}
	return s.writeOneUser(w, r, u, false)
}

// updateUser: PUT /users/{user_id} with Harbor's UserProfile.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFor(r)
	if err != nil {
		return err
	}
	var req struct {
		Email    *string `json:"email"`
		Realname *string `json:"realname"`
		Comment  *string `json:"comment"`
		// Disabled (berth's addition to Harbor's UserProfile) lets an
		// administrator disable or re-enable an account.
		Disabled *bool `json:"disabled"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Disabled != nil {
		if err := requireAdmin(r); err != nil {
			return err
		}
		if u.ID == auth.FromContext(r.Context()).UserID {
			return errForbidden("you cannot disable yourself")
		}
		u.Disabled = *req.Disabled
	}
	for _, f := range []struct{ src, dst *string }{{req.Email, &u.Email}, {req.Realname, &u.Realname}, {req.Comment, &u.Comment}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if err := s.opt.Access.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	if req.Disabled != nil {
		// Tokens, sessions and cached credentials of a disabled account
		// must stop working now.
		if err := s.opt.Auth.Revoke(r.Context(), u.Username); err != nil {
			return err
		}
		s.record(r.Context(), r, map[bool]string{true: "disable", false: "enable"}[u.Disabled], "user", u.Username, nil)
	}
	return ok(w)
}

// deleteUser: DELETE /users/{user_id} (administrators, not themselves).
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	u, err := s.userFor(r)
	if err != nil {
		return err
	}
	if u.ID == auth.FromContext(r.Context()).UserID {
		return errForbidden("you cannot delete yourself")
	}
	if err := s.opt.Access.DeleteUser(r.Context(), u.ID); err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), u.Username); err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "user", u.Username, nil)
	return ok(w)
}

// changePassword: PUT /users/{user_id}/password {old_password,
// new_password}. Users give their old password; an administrator sets
// another user's without it.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFor(r)
	if err != nil {
		return err
	}
	if err := s.requireLocalPassword(u.Username); err != nil {
		return err
	}
	var req struct {
		OldPassword string `json:"old_password"`
		NewPassword string `json:"new_password"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	self := u.ID == auth.FromContext(r.Context()).UserID
	if self && !auth.CheckPassword(u.PasswordHash, req.OldPassword) {
		return errForbidden("the old password is incorrect")
	}
	if err := checkPassword(req.NewPassword); err != nil {
		return err
	}
	if auth.CheckPassword(u.PasswordHash, req.NewPassword) {
		return errBadRequest("the new password must differ from the old one")
	}
	if u.PasswordHash, err = auth.HashPassword(req.NewPassword); err != nil {
		return errBadRequest(err.Error())
	}
	if err := s.opt.Access.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), u.Username); err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "user", u.Username+" (password)", nil)
	return ok(w)
}

// setSysAdmin: PUT /users/{user_id}/sysadmin {sysadmin_flag}.
func (s *Server) setSysAdmin(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	u, err := s.userFor(r)
	if err != nil {
		return err
	}
	var req struct {
		SysadminFlag bool `json:"sysadmin_flag"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	u.SysAdmin = req.SysadminFlag
	if err := s.opt.Access.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), u.Username); err != nil { // tokens carry the old rights
		return err
	}
	s.record(r.Context(), r, "update", "user", fmt.Sprintf("%s (sysadmin=%t)", u.Username, u.SysAdmin), nil)
	return ok(w)
}
