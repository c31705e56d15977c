package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// member is Harbor's ProjectMemberEntity. A user member's id is the
// user's id; a group member's id is groupMemberBase + the group's id, so
// one {mid} space addresses both (Harbor numbers its project_member rows).
type member struct {
	ID         int64  `json:"id"`
	ProjectID  int64  `json:"project_id"`
	EntityName string `json:"entity_name"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
	RoleID     int    `json:"role_id"`
	RoleName   string `json:"role_name"`
}

// groupMemberBase starts the member ids of groups (beyond any user id,
// within JavaScript's exact integers).
const groupMemberBase = int64(1) << 40

func memberJSON(m meta.Member) member {
	return member{ID: m.UserID, ProjectID: m.ProjectID, EntityName: m.Username, EntityID: m.UserID, EntityType: "u",
		RoleID: m.Role, RoleName: rbac.Role(m.Role).Name()}
}

func groupMemberJSON(m meta.GroupMember) member {
	return member{ID: groupMemberBase + m.GroupID, ProjectID: m.ProjectID, EntityName: m.GroupName, EntityID: m.GroupID,
		EntityType: "g", RoleID: m.Role, RoleName: rbac.Role(m.Role).Name()}
}

// memberReq is Harbor's ProjectMember: a user (member_user) or a group
// (member_group).
type memberReq struct {
	RoleID     int `json:"role_id"`
	MemberUser *struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
	} `json:"member_user"`
	MemberGroup *userGroup `json:"member_group"`
}

func validRole(id int) error {
	if !rbac.Role(id).Valid() {
		return errBadRequest(fmt.Sprintf("invalid role_id %d: want 1 (projectAdmin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limitedGuest)", id))
	}
	return nil
}

// listMembers: GET /projects/{project_name_or_id}/members?entityname=:
// users, then groups.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadMembers)
	if err != nil {
		return err
	}
	pg, err := pageOf(r)
	if err != nil {
		return err
	}
	all, err := s.projectMembers(r, p)
	if err != nil {
		return err
	}
	name := strings.ToLower(r.URL.Query().Get("entityname")) // ignoring case, as every name search
	out := []member{}
	for _, m := range all {
		if strings.Contains(strings.ToLower(m.EntityName), name) {
			out = append(out, m)
		}
	}
	setPaging(w, r, pg, int64(len(out)))
	return writeJSON(w, http.StatusOK, pageSlice(out, pg))
}

// projectMembers is every member of p: users, then groups.
func (s *Server) projectMembers(r *http.Request, p *meta.Project) ([]member, error) {
	users, err := s.opt.Access.ListMembers(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	groups, err := s.opt.Access.ListGroupMembers(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]member, 0, len(users)+len(groups))
	for _, m := range users {
		out = append(out, memberJSON(m))
	}
	for _, m := range groups {
		out = append(out, groupMemberJSON(m))
	}
	return out, nil
}

// createMember: POST /projects/{project_name_or_id}/members.
func (s *Server) createMember(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteMembers)
	if err != nil {
		return err
	}
	var req memberReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	// harbor-cli sends an empty member_group beside member_user: an empty
	// object counts as absent.
	if req.MemberGroup != nil && *req.MemberGroup == (userGroup{}) {
		req.MemberGroup = nil
	}
	if req.MemberUser != nil && req.MemberUser.UserID == 0 && req.MemberUser.Username == "" {
		req.MemberUser = nil
	}
	if (req.MemberUser == nil) == (req.MemberGroup == nil) {
		return errBadRequest("give either member_user or member_group")
	}
	if err := validRole(req.RoleID); err != nil {
		return err
	}
	if req.MemberGroup != nil {
		return s.createGroupMember(w, r, p, req)
	}
	u, err := s.opt.Access.GetUserByName(r.Context(), req.MemberUser.Username)
	if req.MemberUser.Username == "" {
		u, err = s.opt.Access.GetUser(r.Context(), req.MemberUser.UserID)
	}
	if isNotFound(err) {
		return errNotFound("user not found")
	} else if err != nil {
		return err
	}
	if role, err := s.opt.Access.MemberRole(r.Context(), p.ID, u.ID); err != nil {
		return err
	} else if role != 0 {
		return errConflict(fmt.Sprintf("the user %s is already a member of the project", u.Username))
	}
	if err := s.opt.Access.SetMember(r.Context(), p.ID, u.ID, req.RoleID); err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "member", u.Username+":"+rbac.Role(req.RoleID).Name(), p)
	return created(w, fmt.Sprintf("%s/projects/%d/members/%d", Prefix, p.ID, u.ID))
}

// createGroupMember adds a group: by id, or by its DN (LDAP) or name
// (other types), creating the group when it is not known yet (Harbor
// onboards groups added this way).
func (s *Server) createGroupMember(w http.ResponseWriter, r *http.Request, p *meta.Project, req memberReq) error {
	mg := req.MemberGroup
	var g *meta.UserGroup
	var err error
	if mg.ID != 0 {
		g, err = s.opt.Access.GetUserGroup(r.Context(), mg.ID)
		if isNotFound(err) {
			return errNotFound(fmt.Sprintf("user group %d not found", mg.ID))
		} else if err != nil {
			return err
		}
	} else {
		want := &meta.UserGroup{Name: strings.TrimSpace(mg.GroupName), Type: mg.GroupType, LDAPDN: strings.TrimSpace(mg.LDAPGroupDN)}
		if err := validGroup(want); err != nil {
			return err
		}
		if g, err = s.findOrCreateGroup(r, want, mg.GroupName != ""); err != nil {
			return err
		}
	}
	roles, err := s.opt.Access.GroupRoles(r.Context(), p.ID, []int64{g.ID})
	if err != nil {
		return err
	}
	if len(roles) > 0 {
		return errConflict(fmt.Sprintf("the group %s is already a member of the project", g.Name))
	}
	if err := s.opt.Access.SetGroupMember(r.Context(), p.ID, g.ID, req.RoleID); isNotFound(err) {
		return errNotFound("user group not found")
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "member", "group "+g.Name+":"+rbac.Role(req.RoleID).Name(), p)
	return created(w, fmt.Sprintf("%s/projects/%d/members/%d", Prefix, p.ID, groupMemberBase+g.ID))
}

// findOrCreateGroup returns the group of want's type and key, creating it.
func (s *Server) findOrCreateGroup(r *http.Request, want *meta.UserGroup, named bool) (*meta.UserGroup, error) {
	if want.Type == meta.LDAPGroup {
		want.LDAPDN = ldap.CanonicalDN(want.LDAPDN)
	}
	found, err := s.opt.Access.FindUserGroups(r.Context(), want.Type, []string{want.Key()})
	if err != nil {
		return nil, err
	}
	if len(found) > 0 {
		return &found[0], nil
	}
	if err := s.checkNewGroup(r, want, named); err != nil {
		return nil, err
	}
	err = s.opt.Access.CreateUserGroup(r.Context(), want)
	if errors.Is(err, meta.ErrConflict) { // created meanwhile
		if found, err = s.opt.Access.FindUserGroups(r.Context(), want.Type, []string{want.Key()}); err == nil && len(found) > 0 {
			return &found[0], nil
		}
	}
	if err != nil {
		return nil, err
	}
	s.record(r.Context(), r, "create", "user_group", want.Name, nil)
	return want, nil
}

// memberFor authorizes action in the project and resolves {mid} there.
func (s *Server) memberFor(r *http.Request, action rbac.Action) (*meta.Project, member, error) {
	p, err := s.projectFor(r, "project_name_or_id", action)
	if err != nil {
		return nil, member{}, err
	}
	mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if err != nil {
		return nil, member{}, errBadRequest("invalid member id")
	}
	all, err := s.projectMembers(r, p)
	if err != nil {
		return nil, member{}, err
	}
	for _, m := range all {
		if m.ID == mid {
			return p, m, nil
		}
	}
	return nil, member{}, errNotFound(fmt.Sprintf("member %d not found in project %s", mid, p.Name))
}

// getMember: GET /projects/{project_name_or_id}/members/{mid}.
func (s *Server) getMember(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.memberFor(r, rbac.ReadMembers)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

// updateMember: PUT /projects/{project_name_or_id}/members/{mid} {role_id}.
func (s *Server) updateMember(w http.ResponseWriter, r *http.Request) error {
	p, m, err := s.memberFor(r, rbac.WriteMembers)
	if err != nil {
		return err
	}
	var req struct {
		RoleID int `json:"role_id"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := validRole(req.RoleID); err != nil {
		return err
	}
	what := m.EntityName
	if m.EntityType == "g" {
		// Tokens already issued to the group's users keep their grants
		// until they expire (--token-ttl): berth does not know the users.
		what = "group " + what
		err = s.opt.Access.SetGroupMember(r.Context(), p.ID, m.EntityID, req.RoleID)
	} else {
		err = s.opt.Access.SetMember(r.Context(), p.ID, m.EntityID, req.RoleID)
		if err == nil {
			err = s.opt.Auth.Revoke(r.Context(), m.EntityName) // tokens carry the old role
		}
	}
	if err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "member", what+":"+rbac.Role(req.RoleID).Name(), p)
	return ok(w)
}

// deleteMember: DELETE /projects/{project_name_or_id}/members/{mid}.
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) error {
	p, m, err := s.memberFor(r, rbac.WriteMembers)
	if err != nil {
		return err
	}
	what := m.EntityName
	if m.EntityType == "g" {
		what = "group " + what
		err = s.opt.Access.RemoveGroupMember(r.Context(), p.ID, m.EntityID)
	} else {
		err = s.opt.Access.RemoveMember(r.Context(), p.ID, m.EntityID)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return errNotFound("member not found")
	} else if err != nil {
		return err
	}
	if m.EntityType == "u" {
		if err := s.opt.Auth.Revoke(r.Context(), m.EntityName); err != nil {
			return err
		}
	}
	s.record(r.Context(), r, "delete", "member", what, p)
	return ok(w)
}
