package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/settings"
)

// project is Harbor's Project (go-client models.Project).
type project struct {
	ProjectID          int64           `json:"project_id"`
	Name               string          `json:"name"`
	OwnerID            int64           `json:"owner_id"`
	OwnerName          string          `json:"owner_name"`
	RegistryID         *int64          `json:"registry_id"` // a proxy cache project's registry
	CreationTime       harborTime      `json:"creation_time"`
	UpdateTime         harborTime      `json:"update_time"`
	Deleted            bool            `json:"deleted"`
	Togglable          bool            `json:"togglable"` // the caller may change public
	RepoCount          int64           `json:"repo_count"`
	CurrentUserRoleID  int             `json:"current_user_role_id"`
	CurrentUserRoleIDs []int           `json:"current_user_role_ids"`
	Metadata           projectMetadata `json:"metadata"`
	CVEAllowlist       cveAllowlist    `json:"cve_allowlist"`
}

// projectMetadata is Harbor's ProjectMetadata: string values ("true" and
// "false" for booleans), the keys of projectMetadataKeys.
type projectMetadata map[string]string

// projectReq is Harbor's ProjectReq.
type projectReq struct {
	ProjectName  string           `json:"project_name"`
	Public       *bool            `json:"public"` // deprecated: metadata.public wins
	Metadata     projectMetadata  `json:"metadata"`
	CVEAllowlist *cveAllowlistReq `json:"cve_allowlist"`
	StorageLimit *int64           `json:"storage_limit"`
	RegistryID   *int64           `json:"registry_id"`
}

// projectNameRE is Harbor's rule for project names.
var projectNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// lookupProject resolves {project_name} by name, and
// {project_name_or_id} with Harbor's X-Is-Resource-Name semantics: a name
// if the header is true or the value is not an integer, an id otherwise.
func (s *Server) lookupProject(r *http.Request, param string) (*meta.Project, error) {
	v := r.PathValue(param)
	var p *meta.Project
	var err error
	id, perr := strconv.ParseInt(v, 10, 64)
	if param == "project_name_or_id" && perr == nil && r.Header.Get("X-Is-Resource-Name") != "true" {
		p, err = s.opt.Access.GetProject(r.Context(), id)
	} else {
		p, err = s.opt.Access.GetProjectByName(r.Context(), v)
	}
	if isNotFound(err) {
		return nil, errProjectNotFound(v)
	}
	return p, err
}

// errProjectNotFound is the answer for a project that does not exist, and
// the same answer, status and message, for one the caller may not see: it
// names only what the caller asked for (an id stays an id), so neither the
// project's existence nor its name leaks.
func errProjectNotFound(asked string) error {
	return errNotFound(fmt.Sprintf("project %s not found", asked))
}

// deny is the error for a refused action: 401 for anonymous callers, 403
// for authenticated ones.
func deny(ctx context.Context, what string) error {
	if auth.FromContext(ctx).Kind == auth.Anonymous {
		return errUnauthorized("authentication required to " + what)
	}
	return errForbidden("not allowed to " + what)
}

// projectFor resolves the project in the path and checks the caller may do
// action there. A project the caller may not see answers as a missing one
// (404, whoever asks; Harbor tells anonymous callers 401 for a private
// project, which says it exists).
func (s *Server) projectFor(r *http.Request, param string, action rbac.Action) (*meta.Project, error) {
	p, err := s.lookupProject(r, param)
	if err != nil {
		return nil, err
	}
	if err := s.mayAct(r, p, action, errProjectNotFound(r.PathValue(param))); err != nil {
		return nil, err
	}
	return p, nil
}

// mayAct checks the caller may do action in p; hidden is the error for a
// caller who may not even see p (what a missing project would get).
func (s *Server) mayAct(r *http.Request, p *meta.Project, action rbac.Action, hidden error) error {
	sub, _, err := s.opt.Auth.Subject(r.Context(), auth.FromContext(r.Context()), p.Name)
	if isNotFound(err) || err == nil && !rbac.Visible(sub) {
		return hidden
	}
	if err != nil {
		return err
	}
	if !rbac.Allowed(sub, action) {
		return deny(r.Context(), string(action)+" in project "+p.Name)
	}
	return nil
}

// projectJSON is p for the caller in ctx, with its settings ps.
func (s *Server) projectJSON(ctx context.Context, p *meta.Project, ps *meta.ProjectSettings) (project, error) {
	out := project{ProjectID: p.ID, Name: p.Name, OwnerID: p.OwnerID, CreationTime: harborTime(p.CreatedAt),
		UpdateTime: harborTime(p.UpdatedAt), Metadata: metadataJSON(p, ps), CVEAllowlist: cveAllowlistJSON(ps.CVEAllowlist),
		CurrentUserRoleIDs: []int{}, RegistryID: projectRegistryID(ps)}
	if owner, err := s.opt.Access.GetUser(ctx, p.OwnerID); err == nil {
		out.OwnerName = owner.Username
	} else if !isNotFound(err) {
		return out, err
	}
	n, err := s.opt.Catalog.RepositoryCount(ctx, p.Name)
	if err != nil {
		return out, err
	}
	out.RepoCount = n
	if id := auth.FromContext(ctx); id.Kind == auth.UserKind {
		role, err := s.opt.Auth.Role(ctx, id, p.ID) // direct or through a group
		if err != nil {
			return out, err
		}
		if out.CurrentUserRoleID = int(role); role != 0 {
			out.CurrentUserRoleIDs = []int{int(role)}
		}
		// Robots are never granted project-write: only users toggle.
		out.Togglable = id.SysAdmin || rbac.RoleAllows(role, rbac.WriteProject)
	}
	return out, nil
}

// projectsJSON is projectJSON for each of ps, their settings read at once.
func (s *Server) projectsJSON(ctx context.Context, ps []meta.Project) ([]project, error) {
	ids := make([]int64, len(ps))
	for i := range ps {
		ids[i] = ps[i].ID
	}
	settings, err := s.opt.Access.ProjectSettings(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]project, 0, len(ps))
	for i := range ps {
		st := settings[ps[i].ID]
		if st == nil { // deleted since it was listed
			st = &meta.ProjectSettings{StorageLimit: meta.UnlimitedStorage, CVEAllowlist: meta.CVEAllowlist{ProjectID: ps[i].ID}}
		}
		pj, err := s.projectJSON(ctx, &ps[i], st)
		if err != nil {
			return nil, err
		}
		out = append(out, pj)
	}
	return out, nil
}

// listProjects: GET /projects?name=&public=&page=&page_size=. System
// administrators see every project, users public ones and their own,
// anonymous callers and robots public ones.
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	pg := lq.Page
	// Harbor's own parameters: name (contains), public, owner (user name).
	for _, f := range []struct {
		key string
		op  meta.Op
	}{{"name", meta.Fuzzy}, {"public", meta.Equal}, {"owner", meta.Equal}} {
		if v := r.URL.Query().Get(f.key); v != "" {
			lq = lq.With(meta.Cond{Key: f.key, Op: f.op, Values: []string{v}})
		}
	}
	q := meta.ProjectQuery{ListQuery: lq}
	switch id := auth.FromContext(r.Context()); {
	case id.SysAdmin:
	case id.Kind == auth.UserKind:
		q.VisibleTo, q.VisibleToGroups = id.UserID, id.Groups
	default: // anonymous callers and robots: public projects only
		q.ListQuery = q.With(meta.Cond{Key: "public", Values: []string{"true"}})
	}
	list, total, err := s.opt.Access.ListProjects(r.Context(), q)
	if err != nil {
		return err
	}
	out, err := s.projectsJSON(r.Context(), list)
	if err != nil {
		return err
	}
	setPaging(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// headProject: HEAD /projects?project_name= answers 200 if it exists.
func (s *Server) headProject(w http.ResponseWriter, r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required")
	}
	name := r.URL.Query().Get("project_name")
	if name == "" {
		return errBadRequest("project_name is required")
	}
	if _, err := s.opt.Access.GetProjectByName(r.Context(), name); err != nil {
		return err
	}
	return ok(w)
}

// createProject: POST /projects. Any signed-in user may create a project
// (only system administrators when project_creation_restriction is
// adminonly) and becomes its project admin. The metadata, CVE allowlist
// and storage limit of the request are checked first and stored with the
// project in one transaction (Harbor drops a cve_allowlist given here;
// berth keeps it).
func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	id := auth.FromContext(r.Context())
	if id.Kind != auth.UserKind {
		return deny(r.Context(), "create projects")
	}
	if s.opt.System.Settings.Get().ProjectCreationRestriction == settings.AdminOnly && !id.SysAdmin {
		return errForbidden("Only system admin can create project") // Harbor's words
	}
	var req projectReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if len(req.ProjectName) > 255 || !projectNameRE.MatchString(req.ProjectName) {
		return errBadRequest("project name is not in lower case or contains illegal characters")
	}
	if auth.NumericName(req.ProjectName) {
		return errBadRequest("project name must not be all digits: it would read as a project id")
	}
	if err := s.checkRegistryID(r.Context(), id, req.RegistryID); err != nil {
		return err
	}
	var proxyMeta map[string]string
	if req.RegistryID != nil {
		var err error
		if proxyMeta, err = proxyMetadata(&req); err != nil {
			return err
		}
	}
	c, err := projectChange(&req, 0, nil)
	if err != nil {
		return err
	}
	withProxyMetadata(&c, proxyMeta)
	if c.StorageLimit, err = createStorageLimit(id, req.StorageLimit, s.opt.System.Settings.Get().StoragePerProject); err != nil {
		return err
	}
	p := &meta.Project{Name: req.ProjectName, OwnerID: id.UserID}
	if err := s.opt.Access.CreateProjectWith(r.Context(), p, c); errors.Is(err, meta.ErrConflict) {
		return errConflict(fmt.Sprintf("The project named %s already exists", p.Name))
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "project", p.Name, p)
	if proxyMeta != nil {
		s.proxyCreated(r.Context(), p)
	}
	loc := Prefix + "/projects/" + strconv.FormatInt(p.ID, 10)
	if r.Header.Get("X-Resource-Name-In-Location") == "true" {
		loc = Prefix + "/projects/" + p.Name
	}
	return created(w, loc)
}

// getProject: GET /projects/{project_name_or_id}.
func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadProject)
	if err != nil {
		return err
	}
	out, err := s.projectsJSON(r.Context(), []meta.Project{*p})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out[0])
}

// updateProject: PUT /projects/{project_name_or_id} sets the metadata keys
// given (the others stay) and replaces the CVE allowlist if one is given.
// Unlike Harbor, an unknown metadata key or a bad value is refused (400,
// naming it) rather than dropped.
func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteProject)
	if err != nil {
		return err
	}
	var req projectReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	settings, err := s.opt.Access.ProjectSettings(r.Context(), p.ID)
	if err != nil {
		return err
	}
	cur := settings[p.ID]
	if cur == nil {
		return errProjectNotFound(r.PathValue("project_name_or_id"))
	}
	var proxyMeta map[string]string
	if projectRegistryID(cur) != nil && req.RegistryID == nil {
		if proxyMeta, err = proxyMetadata(&req); err != nil {
			return err
		}
	}
	c, err := projectChange(&req, p.ID, cur)
	if err != nil {
		return err
	}
	withProxyMetadata(&c, proxyMeta)
	if req.StorageLimit != nil && *req.StorageLimit != cur.StorageLimit {
		// Harbor ignores it here; its quota API changes a limit.
		return errBadRequest("storage_limit is set when a project is created; it cannot be changed here")
	}
	if req.RegistryID != nil {
		return errBadRequest("registry_id is set when a project is created; it cannot be changed")
	}
	if err := s.changeProject(r, p, c); err != nil {
		return err
	}
	if projectRegistryID(cur) != nil {
		s.proxyChanged(r.Context())
	}
	s.record(r.Context(), r, "update", "project", p.Name, p)
	return ok(w)
}

// changeProject applies c to p; when p stops being public, the anonymous
// tokens granted pull in it stop working.
func (s *Server) changeProject(r *http.Request, p *meta.Project, c meta.ProjectChange) error {
	if err := s.opt.Access.ChangeProject(r.Context(), p.ID, c); isNotFound(err) {
		return errProjectNotFound(r.PathValue("project_name_or_id"))
	} else if err != nil {
		return err
	}
	if p.Public && c.Public != nil && !*c.Public {
		return s.opt.Auth.Revoke(r.Context(), auth.AnonymousIdentity.Name)
	}
	return nil
}

// deleteProject: DELETE /projects/{project_name_or_id}; refused with 412
// while the project holds repositories.
func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteProject)
	if err != nil {
		return err
	}
	n, err := s.opt.Catalog.RepositoryCount(r.Context(), p.Name)
	if err != nil {
		return err
	}
	if n > 0 {
		return errPrecondition(errNotDeletable)
	}
	robots, err := s.projectRobotNames(r.Context(), p.ID)
	if err != nil {
		return err
	}
	if err := s.opt.Access.DeleteProject(r.Context(), p.ID); err != nil {
		return err
	}
	// The project's robots went with it; their tokens, and anonymous ones
	// of a public project, must not work in a project re-created under the
	// same name.
	for _, name := range append(robots, auth.AnonymousIdentity.Name) {
		if err := s.opt.Auth.Revoke(r.Context(), name); err != nil {
			return err
		}
	}
	s.record(r.Context(), r, "delete", "project", p.Name, p)
	s.proxyChanged(r.Context())
	return ok(w)
}

// projectRobotNames lists the names of a project's robot accounts.
func (s *Server) projectRobotNames(ctx context.Context, projectID int64) ([]string, error) {
	var names []string
	for page := 1; ; page++ {
		list, total, err := s.opt.Access.ListRobots(ctx, projectID, meta.ListQuery{Page: meta.Page{Page: page, Size: 100}})
		if err != nil {
			return nil, err
		}
		for _, rb := range list {
			names = append(names, rb.Name)
		}
		if len(list) == 0 || int64(len(names)) >= total {
			return names, nil
		}
	}
}
