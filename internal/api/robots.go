package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// robot is Harbor's Robot. The secret is never part of it.
type robot struct {
	ID          int64             `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Level       string            `json:"level"`
	Duration    int64             `json:"duration"`
	Editable    bool              `json:"editable"`
	Disable     bool              `json:"disable"`
	ExpiresAt   int64             `json:"expires_at"`
	Permissions []robotPermission `json:"permissions"`
	// CreatorType is "local" (a user) or "robot", CreatorRef that user's
	// or robot's id (Harbor 2.10+); left out for robots created before
	// berth kept them.
	CreatorType  string     `json:"creator_type,omitempty"`
	CreatorRef   int64      `json:"creator_ref,omitempty"`
	CreationTime harborTime `json:"creation_time"`
	UpdateTime   harborTime `json:"update_time"`
}

// robotPermission and robotAccess are Harbor's RobotPermission and Access.
type robotPermission struct {
	Kind      string        `json:"kind"`
	Namespace string        `json:"namespace"`
	Access    []robotAccess `json:"access"`
}

type robotAccess struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
	Effect   string `json:"effect,omitempty"`
}

// robotCreate is Harbor's RobotCreate (also the body of PUT).
type robotCreate struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Level       string            `json:"level"`
	Disable     bool              `json:"disable"`
	Duration    int64             `json:"duration"`
	Permissions []robotPermission `json:"permissions"`
}

// robotCreated is Harbor's RobotCreated: the only answer, with the
// refresh's RobotSec, that shows a secret.
type robotCreated struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	Secret       string     `json:"secret"`
	CreationTime harborTime `json:"creation_time"`
	ExpiresAt    int64      `json:"expires_at"`
}

func robotJSON(rb *meta.Robot) robot {
	out := robot{ID: rb.ID, Name: rb.Name, Description: rb.Description, Level: rb.Level, Duration: -1, Editable: true,
		Disable: rb.Disabled, ExpiresAt: -1, Permissions: []robotPermission{}, CreatorType: rb.CreatorType,
		CreatorRef: rb.CreatorRef, CreationTime: harborTime(rb.CreatedAt), UpdateTime: harborTime(rb.UpdatedAt)}
	if !rb.ExpiresAt.IsZero() {
		out.ExpiresAt = rb.ExpiresAt.Unix()
		out.Duration = int64(rb.ExpiresAt.Sub(rb.CreatedAt).Round(24*time.Hour) / (24 * time.Hour))
	}
	for _, p := range rb.Permissions {
		if p.Project == "" { // its project was deleted: it grants nothing
			continue
		}
		rp := robotPermission{Kind: "project", Namespace: p.Project, Access: []robotAccess{}}
		for _, a := range p.Actions {
			if pair, ok := rbac.PermissionOf(rbac.Action(a)); ok {
				rp.Access = append(rp.Access, robotAccess{Resource: pair.Resource, Action: pair.Action})
			}
		}
		out.Permissions = append(out.Permissions, rp)
	}
	return out
}

// robotPermissions checks a request's permissions for a robot of level
// and returns them as stored; project is the project of a project robot.
func (s *Server) robotPermissions(r *http.Request, level string, perms []robotPermission) ([]meta.RobotPermission, *meta.Project, error) {
	if len(perms) == 0 || level == "project" && len(perms) != 1 {
		return nil, nil, errBadRequest("a project robot needs exactly one permission, a system robot at least one")
	}
	var out []meta.RobotPermission
	var proj *meta.Project
	for _, p := range perms {
		if p.Kind != "project" || p.Namespace == "" || p.Namespace == "*" && level == "project" {
			return nil, nil, errBadRequest(`permissions: kind must be "project" with a project namespace`)
		}
		if p.Namespace != "*" {
			var err error
			if proj, err = s.opt.Access.GetProjectByName(r.Context(), p.Namespace); isNotFound(err) {
				return nil, nil, errNoSuchNamespace(p.Namespace)
			} else if err != nil {
				return nil, nil, err
			}
		}
		// The grant is kept by project id: a project re-created under this
		// name later is not granted.
		mp := meta.RobotPermission{Project: p.Namespace}
		if p.Namespace != "*" {
			mp.ProjectID = proj.ID
		}
		for _, a := range p.Access {
			act, err := accessAction(a)
			if err != nil {
				return nil, nil, err
			}
			if !slices.Contains(mp.Actions, string(act)) {
				mp.Actions = append(mp.Actions, string(act))
			}
		}
		out = append(out, mp)
	}
	return out, proj, nil
}

// errNoSuchNamespace refuses a permission in a project that does not
// exist, or that the caller may not see (the same answer).
func errNoSuchNamespace(name string) error {
	return errBadRequest("permissions: project " + name + " not found")
}

func accessAction(a robotAccess) (rbac.Action, error) {
	if a.Effect != "" && a.Effect != "allow" {
		return "", errBadRequest(`permissions: only effect "allow" is supported`)
	}
	if act, ok := rbac.RobotGrant(a.Resource, a.Action); ok { // what GET /permissions offers
		return act, nil
	}
	return "", errBadRequest(fmt.Sprintf("permissions: unsupported access %s/%s", a.Resource, a.Action))
}

// mayManageRobot checks the caller may manage robots of level in proj.
// Project robots need WriteRobots (ReadRobots to read) in their project,
// system robots a system administrator. hidden is the answer for a caller
// who may not see proj: what a missing project or robot would get.
func (s *Server) mayManageRobot(r *http.Request, level string, proj *meta.Project, action rbac.Action, hidden error) error {
	id := auth.FromContext(r.Context())
	if level != "project" || proj == nil {
		if !id.SysAdmin {
			return deny(r.Context(), "manage system robot accounts")
		}
		return nil
	}
	return s.mayAct(r, proj, action, hidden)
}

// expiry is the expiry of a robot created at from for days (-1: never; 0:
// the robot_token_duration setting's days).
func (s *Server) expiry(from time.Time, days int64) (time.Time, error) {
	switch {
	case days == -1:
		return time.Time{}, nil
	case days == 0:
		days = s.opt.System.Settings.Get().RobotTokenDuration
	case days < -1 || days > 36500:
		return time.Time{}, errBadRequest("duration must be -1 (never expires) or a number of days")
	}
	return from.Add(time.Duration(days) * 24 * time.Hour), nil
}

// createRobot: POST /robots.
func (s *Server) createRobot(w http.ResponseWriter, r *http.Request) error {
	var req robotCreate
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Level != "project" && req.Level != "system" {
		return errBadRequest(`level must be "project" or "system"`)
	}
	if !projectNameRE.MatchString(req.Name) {
		return errBadRequest("robot name must be lower case letters, digits and . _ - separators")
	}
	if req.Level == "system" && !auth.FromContext(r.Context()).SysAdmin { // before its permissions say which projects exist
		return deny(r.Context(), "manage system robot accounts")
	}
	perms, proj, err := s.robotPermissions(r, req.Level, req.Permissions)
	if err != nil {
		return err
	}
	if err := s.mayManageRobot(r, req.Level, proj, rbac.WriteRobots, errNoSuchNamespace(projectName(proj))); err != nil {
		return err
	}
	rb := &meta.Robot{Name: auth.RobotPrefix + req.Name, Description: req.Description, Level: req.Level,
		Disabled: req.Disable, Permissions: perms}
	rb.CreatorType, rb.CreatorRef = creatorOf(auth.FromContext(r.Context()))
	if req.Level == "project" {
		rb.Name, rb.ProjectID = auth.RobotPrefix+proj.Name+"+"+req.Name, proj.ID
	}
	if rb.ExpiresAt, err = s.expiry(time.Now(), req.Duration); err != nil {
		return err
	}
	secret := auth.NewSecret(32)
	if rb.SecretHash, err = auth.HashPassword(secret); err != nil {
		return err
	}
	if err := s.opt.Access.CreateRobot(r.Context(), rb); errors.Is(err, meta.ErrConflict) {
		return errConflict("robot account " + rb.Name + " already exists")
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "robot", rb.Name, proj)
	w.Header().Set("Location", Prefix+"/robots/"+strconv.FormatInt(rb.ID, 10))
	return writeJSON(w, http.StatusCreated, robotCreated{ID: rb.ID, Name: rb.Name, Secret: secret,
		CreationTime: harborTime(rb.CreatedAt), ExpiresAt: robotJSON(rb).ExpiresAt})
}

// creatorOf is Harbor's creator_type and creator_ref for a robot created
// by id: "local" and the user's id, or "robot" and the robot's id.
func creatorOf(id *auth.Identity) (string, int64) {
	if id.Kind == auth.RobotKind && id.Robot != nil {
		return "robot", id.Robot.ID
	}
	return "local", id.UserID
}

// robotFor loads {robot_id} and checks the caller may do action with it.
func (s *Server) robotFor(r *http.Request, action rbac.Action) (*meta.Robot, *meta.Project, error) {
	id, err := strconv.ParseInt(r.PathValue("robot_id"), 10, 64)
	if err != nil {
		return nil, nil, errBadRequest("invalid robot id")
	}
	rb, err := s.opt.Access.GetRobot(r.Context(), id)
	if isNotFound(err) {
		return nil, nil, errNotFound(fmt.Sprintf("robot %d not found", id))
	} else if err != nil {
		return nil, nil, err
	}
	var proj *meta.Project
	if rb.Level == "project" {
		if proj, err = s.opt.Access.GetProject(r.Context(), rb.ProjectID); err != nil {
			return nil, nil, err
		}
	}
	return rb, proj, s.mayManageRobot(r, rb.Level, proj, action, errNotFound(fmt.Sprintf("robot %d not found", id)))
}

// listRobots: GET /robots?q=Level=system or q=Level=project,ProjectID=N.
func (s *Server) listRobots(w http.ResponseWriter, r *http.Request) error {
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	// Harbor selects the robots' level and project in q with these two
	// keys (Level=system, or Level=project,ProjectID=N); the other terms
	// filter the robots.
	var levelValue, projectValue string
	rest := lq.Where[:0:0]
	for _, c := range lq.Where {
		switch {
		case c.Key == "Level" && c.Op == meta.Equal:
			levelValue = c.Values[0]
		case c.Key == "ProjectID" && c.Op == meta.Equal:
			projectValue = c.Values[0]
		default:
			rest = append(rest, c)
		}
	}
	lq.Where = rest
	var proj *meta.Project
	var hidden error
	level := "system"
	if levelValue == "project" || projectValue != "" {
		pid, err := strconv.ParseInt(projectValue, 10, 64)
		if err != nil {
			return errBadRequest("q: Level=project needs ProjectID=<project id>")
		}
		hidden = errProjectNotFound(strconv.FormatInt(pid, 10))
		if proj, err = s.opt.Access.GetProject(r.Context(), pid); isNotFound(err) {
			return hidden
		} else if err != nil {
			return err
		}
		level = "project"
	}
	if err := s.mayManageRobot(r, level, proj, rbac.ReadRobots, hidden); err != nil {
		return err
	}
	var pid int64
	if proj != nil {
		pid = proj.ID
	}
	list, total, err := s.opt.Access.ListRobots(r.Context(), pid, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, robotJSON)
}

// getRobot: GET /robots/{robot_id}.
func (s *Server) getRobot(w http.ResponseWriter, r *http.Request) error {
	rb, _, err := s.robotFor(r, rbac.ReadRobots)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, robotJSON(rb))
}

// updateRobot: PUT /robots/{robot_id} changes description, disable,
// duration and permissions (name and level are fixed).
func (s *Server) updateRobot(w http.ResponseWriter, r *http.Request) error {
	rb, proj, err := s.robotFor(r, rbac.WriteRobots)
	if err != nil {
		return err
	}
	var req robotCreate
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Level != "" && req.Level != rb.Level {
		return errBadRequest("the level of a robot cannot change")
	}
	perms, newProj, err := s.robotPermissions(r, rb.Level, req.Permissions)
	if err != nil {
		return err
	}
	if proj != nil && newProj.ID != proj.ID {
		return errBadRequest("a project robot's permission must stay in its project " + proj.Name)
	}
	if rb.ExpiresAt, err = s.expiry(rb.CreatedAt, req.Duration); err != nil {
		return err
	}
	rb.Description, rb.Disabled, rb.Permissions = req.Description, req.Disable, perms
	if err := s.opt.Access.UpdateRobot(r.Context(), rb); err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), rb.Name); err != nil { // tokens carry the old rights
		return err
	}
	s.record(r.Context(), r, "update", "robot", rb.Name, proj)
	return ok(w)
}

// refreshRobotSecret: PATCH /robots/{robot_id} with Harbor's RobotSec: an
// empty secret generates one, returned this once; a chosen one is set.
func (s *Server) refreshRobotSecret(w http.ResponseWriter, r *http.Request) error {
	rb, proj, err := s.robotFor(r, rbac.WriteRobots)
	if err != nil {
		return err
	}
	var req struct {
		Secret string `json:"secret"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	// As Harbor, the answer carries the secret only when berth made it: a
	// secret the caller chose is not sent back.
	secret, made := req.Secret, req.Secret == ""
	if made {
		secret = auth.NewSecret(32)
	} else if err := checkPassword(secret); err != nil {
		return err
	}
	if rb.SecretHash, err = auth.HashPassword(secret); err != nil {
		return err
	}
	if err := s.opt.Access.UpdateRobot(r.Context(), rb); err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), rb.Name); err != nil { // tokens carry the old rights
		return err
	}
	s.record(r.Context(), r, "update", "robot", rb.Name+" (secret refreshed)", proj)
	var resp struct {
		Secret string `json:"secret"`
	}
	if made {
		resp.Secret = secret
	}
	return writeJSON(w, http.StatusOK, resp)
}

// deleteRobot: DELETE /robots/{robot_id}.
func (s *Server) deleteRobot(w http.ResponseWriter, r *http.Request) error {
	rb, proj, err := s.robotFor(r, rbac.WriteRobots)
	if err != nil {
		return err
	}
	if err := s.opt.Access.DeleteRobot(r.Context(), rb.ID); err != nil {
		return err
	}
	if err := s.opt.Auth.Revoke(r.Context(), rb.Name); err != nil { // tokens carry the old rights
		return err
	}
	s.record(r.Context(), r, "delete", "robot", rb.Name, proj)
	return ok(w)
}

func projectName(p *meta.Project) string {
	if p == nil {
		return ""
	}
	return p.Name
}
