package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// userGroup is Harbor's UserGroup. Harbor's GET /usergroups/{id} leaves
// the id out; berth always includes it.
type userGroup struct {
	ID          int64  `json:"id"`
	GroupName   string `json:"group_name"`
	GroupType   int    `json:"group_type"`
	LDAPGroupDN string `json:"ldap_group_dn"`
}

func userGroupJSON(g *meta.UserGroup) userGroup {
	return userGroup{ID: g.ID, GroupName: g.Name, GroupType: g.Type, LDAPGroupDN: g.LDAPDN}
}

// userGroupSearchItem is Harbor's UserGroupSearchItem.
type userGroupSearchItem struct {
	ID        int64  `json:"id"`
	GroupName string `json:"group_name"`
	GroupType int    `json:"group_type"`
}

// maxGroupName bounds a group's name and DN.
const maxGroupName = 1024

// validGroup checks a group to be created and fills in its name from its
// DN when it has none.
func validGroup(g *meta.UserGroup) error {
	switch g.Type {
	case meta.LDAPGroup:
		if strings.TrimSpace(g.LDAPDN) == "" {
			return errBadRequest("ldap_group_dn is required for an LDAP group (group_type 1)")
		}
		if g.Name == "" {
			g.Name = firstRDNValue(g.LDAPDN)
		}
	case meta.HTTPGroup, meta.OIDCGroup:
		if g.LDAPDN != "" {
			return errBadRequest("ldap_group_dn is for LDAP groups (group_type 1) only")
		}
	default:
		return errBadRequest(fmt.Sprintf("invalid group_type %d: want 1 (LDAP), 2 (HTTP) or 3 (OIDC)", g.Type))
	}
	if strings.TrimSpace(g.Name) == "" {
		return errBadRequest("group_name is required")
	}
	if len(g.Name) > maxGroupName || len(g.LDAPDN) > maxGroupName {
		return errBadRequest(fmt.Sprintf("group_name and ldap_group_dn are at most %d bytes", maxGroupName))
	}
	return nil
}

// firstRDNValue is "devs" for "cn=devs,ou=groups,dc=example,dc=org".
func firstRDNValue(dn string) string {
	first, _, _ := strings.Cut(dn, ",")
	_, v, _ := strings.Cut(first, "=")
	return strings.TrimSpace(v)
}

// listUserGroups: GET /usergroups (system administrators) with Harbor's
// group_name (contains, ignoring case) and ldap_group_dn (exact) filters.
// Harbor lists only the groups of the current auth mode's type; berth
// lists every group, so groups of another mode can still be seen and
// deleted.
func (s *Server) listUserGroups(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	pg, err := pageOf(r)
	if err != nil {
		return err
	}
	q := meta.ListQuery{Page: pg}
	if v := r.URL.Query().Get("group_name"); v != "" {
		q = q.With(meta.Cond{Key: "group_name", Op: meta.Fuzzy, Values: []string{v}})
	}
	if v := r.URL.Query().Get("ldap_group_dn"); v != "" {
		q = q.With(meta.Cond{Key: "ldap_group_dn", Op: meta.Equal, Values: []string{v}})
	}
	list, total, err := s.opt.Access.ListUserGroups(r.Context(), q)
	if err != nil {
		return err
	}
	return writeList(w, r, pg, total, list, userGroupJSON)
}

// createUserGroup: POST /usergroups (system administrators).
func (s *Server) createUserGroup(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	var req userGroup
	if err := readJSON(r, &req); err != nil {
		return err
	}
	g := &meta.UserGroup{Name: strings.TrimSpace(req.GroupName), Type: req.GroupType, LDAPDN: strings.TrimSpace(req.LDAPGroupDN)}
	if err := validGroup(g); err != nil {
		return err
	}
	if err := s.checkNewGroup(r, g, req.GroupName != ""); err != nil {
		return err
	}
	if err := s.opt.Access.CreateUserGroup(r.Context(), g); errors.Is(err, meta.ErrConflict) {
		return errConflict("a user group of this type with this name or DN already exists")
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "user_group", g.Name, nil)
	return created(w, fmt.Sprintf("%s/usergroups/%d", Prefix, g.ID))
}

// userGroupFor resolves {group_id} (system administrators).
func (s *Server) userGroupFor(r *http.Request) (*meta.UserGroup, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("group_id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errBadRequest("invalid group id")
	}
	g, err := s.opt.Access.GetUserGroup(r.Context(), id)
	if isNotFound(err) {
		return nil, errNotFound(fmt.Sprintf("the user group with id %d is not found", id))
	}
	return g, err
}

// getUserGroup: GET /usergroups/{group_id}.
func (s *Server) getUserGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.userGroupFor(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userGroupJSON(g))
}

// updateUserGroup: PUT /usergroups/{group_id} {group_name}: only the name
// changes, as in Harbor.
func (s *Server) updateUserGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.userGroupFor(r)
	if err != nil {
		return err
	}
	var req userGroup
	if err := readJSON(r, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.GroupName)
	if name == "" || len(name) > maxGroupName {
		return errBadRequest(fmt.Sprintf("group_name is required (at most %d bytes)", maxGroupName))
	}
	g.Name = name
	if err := s.opt.Access.UpdateUserGroup(r.Context(), g); errors.Is(err, meta.ErrConflict) {
		return errConflict("a user group of this type with this name already exists")
	} else if isNotFound(err) {
		return errNotFound("user group not found")
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "user_group", g.Name, nil)
	return ok(w)
}

// deleteUserGroup: DELETE /usergroups/{group_id}; the group's project
// memberships go with it.
func (s *Server) deleteUserGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.userGroupFor(r)
	if err != nil {
		return err
	}
	if err := s.opt.Access.DeleteUserGroup(r.Context(), g.ID); isNotFound(err) {
		return errNotFound("user group not found")
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "user_group", g.Name, nil)
	return ok(w)
}

// searchUserGroups: GET /usergroups/search?groupname= (any signed-in
// user: project admins add groups as members).
func (s *Server) searchUserGroups(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required to search user groups")
	}
	name := r.URL.Query().Get("groupname")
	if name == "" {
		return errBadRequest("need to provide groupname to search user group")
	}
	pg, err := pageOf(r)
	if err != nil {
		return err
	}
	q := meta.ListQuery{Page: pg}.With(meta.Cond{Key: "group_name", Op: meta.Fuzzy, Values: []string{name}})
	list, total, err := s.opt.Access.ListUserGroups(r.Context(), q)
	if err != nil {
		return err
	}
	return writeList(w, r, pg, total, list, func(g *meta.UserGroup) userGroupSearchItem {
		return userGroupSearchItem{ID: g.ID, GroupName: g.Name, GroupType: g.Type}
	})
}
