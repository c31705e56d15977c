package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// member is Harbor's ProjectMemberEntity. berth has user members only, and
// a member's id is the user's id.
type member struct {
	ID         int64  `json:"id"`
	ProjectID  int64  `json:"project_id"`
	EntityName string `json:"entity_name"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
	RoleID     int    `json:"role_id"`
	RoleName   string `json:"role_name"`
}

func memberJSON(m meta.Member) member {
	return member{ID: m.UserID, ProjectID: m.ProjectID, EntityName: m.Username, EntityID: m.UserID, EntityType: "u",
		RoleID: m.Role, RoleName: rbac.Role(m.Role).Name()}
}

// memberReq is Harbor's ProjectMember (member_group is not supported).
type memberReq struct {
	RoleID     int `json:"role_id"`
	MemberUser *struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
	} `json:"member_user"`
}

func validRole(id int) error {
	if !rbac.Role(id).Valid() {
		return errBadRequest(fmt.Sprintf("invalid role_id %d: want 1 (projectAdmin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limitedGuest)", id))
	}
	return nil
}

// listMembers: GET /projects/{project_name_or_id}/members?entityname=.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadMembers)
	if err != nil {
		return err
	}
	pg, err := pageOf(r)
	if err != nil {
		return err
	}
	all, err := s.opt.Access.ListMembers(r.Context(), p.ID)
	if err != nil {
		return err
	}
	name := strings.ToLower(r.URL.Query().Get("entityname")) // ignoring case, as every name search
	out := []member{}
	for _, m := range all {
		if strings.Contains(strings.ToLower(m.Username), name) {
			out = append(out, memberJSON(m))
		}
	}
	setPaging(w, r, pg, int64(len(out)))
	return writeJSON(w, http.StatusOK, pageSlice(out, pg))
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
	if req.MemberUser == nil {
		return errBadRequest("member_user is required (group members are not supported)")
	}
	if err := validRole(req.RoleID); err != nil {
		return err
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

// memberFor authorizes action in the project and resolves {mid} there.
func (s *Server) memberFor(r *http.Request, action rbac.Action) (*meta.Project, meta.Member, error) {
	p, err := s.projectFor(r, "project_name_or_id", action)
	if err != nil {
		return nil, meta.Member{}, err
	}
	mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if err != nil {
		return nil, meta.Member{}, errBadRequest("invalid member id")
	}
	all, err := s.opt.Access.ListMembers(r.Context(), p.ID)
	if err != nil {
		return nil, meta.Member{}, err
	}
	for _, m := range all {
		if m.UserID == mid {
			return p, m, nil
		}
	}
	return nil, meta.Member{}, errNotFound(fmt.Sprintf("member %d not found in project %s", mid, p.Name))
}

// getMember: GET /projects/{project_name_or_id}/members/{mid}.
func (s *Server) getMember(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.memberFor(r, rbac.ReadMembers)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, memberJSON(m))
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
	if err := s.opt.Access.SetMember(r.Context(), p.ID, m.UserID, req.RoleID); err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), m.Username); err != nil { // tokens carry the old role
		return err
	}
	s.record(r.Context(), r, "update", "member", m.Username+":"+rbac.Role(req.RoleID).Name(), p)
	return ok(w)
}

// deleteMember: DELETE /projects/{project_name_or_id}/members/{mid}.
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) error {
	p, m, err := s.memberFor(r, rbac.WriteMembers)
	if err != nil {
		return err
	}
	if err := s.opt.Access.RemoveMember(r.Context(), p.ID, m.UserID); errors.Is(err, meta.ErrNotFound) {
		return errNotFound("member not found")
	} else if err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), m.Username); err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "member", m.Username, p)
	return ok(w)
}
