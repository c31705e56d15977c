package api

import (
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// userSearchItem is Harbor's UserSearchRespItem.
type userSearchItem struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
}

// searchUsers: GET /users/search?username=… — any signed-in caller (as
// Harbor: it is how a project admin finds users to add as members), names
// containing username (ASCII case folded), in name order, paged. Harbor
// always answers the first page of page_size; berth pages.
func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required to search users")
	}
	name := r.URL.Query().Get("username")
	if name == "" {
		return errBadRequest("username is required")
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	lq := meta.ListQuery{Page: p, Where: []meta.Cond{{Key: "username", Op: meta.Fuzzy, Values: []string{name}}},
		Sort: []meta.Order{{Key: "username"}}}
	list, total, err := s.opt.Access.ListUsers(r.Context(), lq)
	if err != nil {
		return err
	}
	return writeList(w, r, p, total, list, func(u *meta.User) userSearchItem {
		return userSearchItem{UserID: u.ID, Username: u.Username}
	})
}

// projectScopeRE is Harbor's project namespace: "/project/<id>", with or
// without a sub-resource (src/common/rbac/project/namespace.go). Harbor
// reads only an id there, never a name.
var projectScopeRE = regexp.MustCompile(`^/project/([^/]*)/?`)

// getCurrentUserPermissions: GET /users/current/permissions?scope=&relative=
// lists the resource/action pairs the caller holds in scope: "/project/<id>"
// (the project's, from its role or robot grant) or "/system" (system
// administrators all, other users project create and list). A scope
// Harbor does not know, a missing project or one the caller may not see
// gives none, as in Harbor. relative=true names each resource relative to
// the scope ("repository" for "/project/1/repository", "." for the
// project itself) and leaves out those outside it.
func (s *Server) getCurrentUserPermissions(w http.ResponseWriter, r *http.Request) error {
	id := auth.FromContext(r.Context())
	if id.Kind == auth.Anonymous {
		return errUnauthorized("authentication required")
	}
	relative := false
	if v := r.URL.Query().Get("relative"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errBadRequest("relative must be true or false")
		}
		relative = b
	}
	scope := r.URL.Query().Get("scope")
	base, perms, err := s.scopePermissions(r, id, scope)
	if err != nil {
		return err
	}
	out := []rbac.Permission{}
	for _, p := range perms {
		res := path.Join(base, p.Resource)
		if relative {
			// Harbor's Resource.RelativeTo: a plain prefix of the string.
			if !strings.HasPrefix(res, scope) {
				continue
			}
			if res = strings.TrimPrefix(strings.TrimPrefix(res, scope), "/"); res == "" {
				res = "."
			}
		}
		out = append(out, rbac.Permission{Resource: res, Action: p.Action})
	}
	return writeJSON(w, http.StatusOK, out)
}

// scopePermissions returns the namespace of scope ("/system/",
// "/project/<id>") and the pairs id holds there, relative to it.
func (s *Server) scopePermissions(r *http.Request, id *auth.Identity, scope string) (string, []rbac.Permission, error) {
	if strings.HasPrefix(scope, "/system") {
		return "/system/", rbac.SystemPermissions(id.Kind == auth.UserKind, id.SysAdmin), nil
	}
	m := projectScopeRE.FindStringSubmatch(scope)
	if m == nil {
		return "", nil, nil
	}
	pid, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return "", nil, nil
	}
	p, err := s.opt.Access.GetProject(r.Context(), pid)
	if isNotFound(err) {
		return "", nil, nil
	} else if err != nil {
		return "", nil, err
	}
	sub, _, err := s.opt.Auth.Subject(r.Context(), id, p.Name)
	if isNotFound(err) {
		return "", nil, nil
	} else if err != nil {
		return "", nil, err
	}
	return "/project/" + strconv.FormatInt(pid, 10), rbac.ProjectPermissions(sub), nil
}

// setCliSecret: PUT /users/{user_id}/cli_secret with Harbor's
// OIDCCliSecretReq sets the CLI secret of an OIDC user (the user or an
// administrator): the password docker and other clients give in place of
// one, independent of the provider's tokens. The previous secret stops
// working at once on this replica (within the credential cache's 30s on
// others). Berth keeps only a hash: a PUT without a secret (berth's
// extension) generates one and answers it, once, as {"secret": …}.
// Without OIDC sign-in it is 412, as Harbor answers under any other auth
// mode, before the user and the caller's rights are looked at.
func (s *Server) setCliSecret(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required")
	}
	if _, err := strconv.ParseInt(r.PathValue("user_id"), 10, 64); err != nil {
		return errBadRequest("invalid user id")
	}
	var req struct {
		Secret string `json:"secret"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	u, err := s.cliSecretFor(r)
	if err != nil {
		return err
	}
	generated := req.Secret == ""
	if generated {
		req.Secret = newCliSecret()
	} else if err := checkCliSecret(req.Secret); err != nil {
		return err
	}
	hash, err := auth.HashCLISecret(req.Secret)
	if err != nil {
		return err
	}
	if err := s.opt.Access.SetOIDCSecret(r.Context(), u.ID, hash); err != nil {
		return err
	}
	s.opt.Auth.Forget()
	s.record(r.Context(), r, "update", "cli_secret", u.Username, nil)
	if generated {
		w.Header().Set("Cache-Control", "no-store")
		return writeJSON(w, http.StatusOK, cliSecretResp{Secret: req.Secret})
	}
	return ok(w)
}

// permissionsResp is Harbor's Permissions.
type permissionsResp struct {
	System  []rbac.Permission `json:"system"`
	Project []rbac.Permission `json:"project"`
}

// getPermissions: GET /permissions — what a robot may be granted, for
// system administrators and the project admins of any project (as Harbor;
// project admins do not see the system list). The project list is exactly
// what robot creation accepts (rbac.RobotPermissions); the system list is
// empty: berth grants robots project access only (a system robot's
// namespace "*" is every project), never kind "system".
func (s *Server) getPermissions(w http.ResponseWriter, r *http.Request) error {
	id := auth.FromContext(r.Context())
	if id.Kind == auth.Anonymous {
		return errUnauthorized("authentication required")
	}
	allowed := id.Kind == auth.UserKind && id.SysAdmin
	if !allowed && id.Kind == auth.UserKind {
		var err error
		if allowed, err = s.opt.Access.HasRole(r.Context(), id.UserID, int(rbac.RoleProjectAdmin)); err != nil {
			return err
		}
	}
	if !allowed {
		return errForbidden("only admins (system and project) can access permissions")
	}
	return writeJSON(w, http.StatusOK, permissionsResp{System: []rbac.Permission{}, Project: rbac.RobotPermissions()})
}
