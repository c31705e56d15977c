package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// label is Harbor's Label.
type label struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	Color        string     `json:"color"`
	Scope        string     `json:"scope"`
	ProjectID    int64      `json:"project_id"`
	CreationTime harborTime `json:"creation_time"`
	UpdateTime   harborTime `json:"update_time"`
}

func labelJSON(l *meta.Label) label {
	return label{ID: l.ID, Name: l.Name, Description: l.Description, Color: l.Color, Scope: l.Scope,
		ProjectID: l.ProjectID, CreationTime: harborTime(l.CreatedAt), UpdateTime: harborTime(l.UpdatedAt)}
}

// labelReq is Harbor's Label as a request body (id and times are not
// read).
type labelReq struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Color       string `json:"color"`
	Scope       string `json:"scope"`
	ProjectID   int64  `json:"project_id"`
}

// Bounds of a label. The name's is Harbor's (src/pkg/label/model); Harbor
// bounds neither the description nor the color, nor checks the color.
const (
	maxLabelName        = 128
	maxLabelDescription = 4096
)

// labelColorRE is a color as Harbor's UI writes it: #RRGGBB (or none).
var labelColorRE = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

func validLabel(req labelReq) error {
	switch {
	case req.Name == "":
		return errBadRequest("the label's name cannot be empty")
	case len(req.Name) > maxLabelName:
		return errBadRequest(fmt.Sprintf("the label's name is longer than %d bytes", maxLabelName))
	case len(req.Description) > maxLabelDescription:
		return errBadRequest(fmt.Sprintf("the label's description is longer than %d bytes", maxLabelDescription))
	case req.Color != "" && !labelColorRE.MatchString(req.Color):
		return errBadRequest(fmt.Sprintf("invalid color %q: want #RRGGBB", req.Color))
	}
	return nil
}

func errInvalidScope(scope string) error {
	return errBadRequest(fmt.Sprintf("invalid scope %q: want g (global) or p (project)", scope))
}

// labelProject authorizes action on the labels of project id. A project
// the caller may not see answers as a missing one.
func (s *Server) labelProject(r *http.Request, id int64, action rbac.Action) (*meta.Project, error) {
	missing := errProjectNotFound(strconv.FormatInt(id, 10))
	p, err := s.opt.Access.GetProject(r.Context(), id)
	if isNotFound(err) {
		return nil, missing
	} else if err != nil {
		return nil, err
	}
	if err := s.mayAct(r, p, action, missing); err != nil {
		return nil, err
	}
	return p, nil
}

// labelFor resolves {label_id} and authorizes action on it: on a project
// label, action in its project (which, if the caller may not see it,
// makes the label answer as a missing one); on a global label, system
// administrators only, except reading. Harbor lets only administrators
// read a global label by id, though it lists them to everyone; berth lets
// everyone read what the list shows anyway (harbor-cli reads the label
// before adding it to an artifact).
func (s *Server) labelFor(r *http.Request, action rbac.Action) (*meta.Label, *meta.Project, error) {
	id, err := strconv.ParseInt(r.PathValue("label_id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, errBadRequest("invalid label id " + r.PathValue("label_id"))
	}
	missing := errNotFound(fmt.Sprintf("label %d not found", id))
	l, err := s.opt.Catalog.GetLabel(r.Context(), id)
	if isNotFound(err) {
		return nil, nil, missing
	} else if err != nil {
		return nil, nil, err
	}
	if l.Scope == meta.LabelScopeGlobal {
		if action == rbac.ReadLabel {
			return l, nil, nil
		}
		return l, nil, requireAdmin(r)
	}
	p, err := s.opt.Access.GetProject(r.Context(), l.ProjectID)
	if isNotFound(err) {
		return nil, nil, missing
	} else if err != nil {
		return nil, nil, err
	}
	if err := s.mayAct(r, p, action, missing); err != nil {
		return nil, nil, err
	}
	return l, p, nil
}

// listLabels: GET /labels?scope=g|p&project_id=&name=&q=&sort=. Global
// labels are listed to every caller (as Harbor does), a project's to
// those who may list its labels.
func (s *Server) listLabels(w http.ResponseWriter, r *http.Request) error {
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	q := meta.LabelQuery{ListQuery: lq}
	if name := r.URL.Query().Get("name"); name != "" {
		q.ListQuery = q.With(meta.Cond{Key: "name", Op: meta.Fuzzy, Values: []string{name}})
	}
	switch scope := r.URL.Query().Get("scope"); scope {
	case meta.LabelScopeGlobal:
	case meta.LabelScopeProject:
		id, err := strconv.ParseInt(r.URL.Query().Get("project_id"), 10, 64)
		if err != nil || id <= 0 {
			return errBadRequest("project_id is required to list project labels")
		}
		p, err := s.labelProject(r, id, rbac.ListLabels)
		if err != nil {
			return err
		}
		q.ProjectID = p.ID
	default:
		return errInvalidScope(scope)
	}
	list, total, err := s.opt.Catalog.ListLabels(r.Context(), q)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, labelJSON)
}

// createLabel: POST /labels. Global labels: system administrators;
// project labels: project administrators and maintainers.
func (s *Server) createLabel(w http.ResponseWriter, r *http.Request) error {
	var req labelReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	l := &meta.Label{Name: req.Name, Description: req.Description, Color: req.Color, Scope: req.Scope}
	var p *meta.Project
	switch req.Scope {
	case meta.LabelScopeGlobal:
		if err := requireAdmin(r); err != nil {
			return err
		}
	case meta.LabelScopeProject:
		if req.ProjectID <= 0 {
			return errBadRequest("project_id is required for a project label")
		}
		var err error
		if p, err = s.labelProject(r, req.ProjectID, rbac.CreateLabel); err != nil {
			return err
		}
		l.ProjectID = p.ID
	default:
		return errInvalidScope(req.Scope)
	}
	if err := validLabel(req); err != nil {
		return err
	}
	err := s.opt.Catalog.CreateLabel(r.Context(), l)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return errConflict(fmt.Sprintf("label %s already exists", l.Name))
	case isNotFound(err): // the project went meanwhile
		return errProjectNotFound(strconv.FormatInt(req.ProjectID, 10))
	case err != nil:
		return err
	}
	s.record(r.Context(), r, "create", "label", l.Name, p)
	return created(w, fmt.Sprintf("%s/labels/%d", Prefix, l.ID))
}

// getLabel: GET /labels/{label_id}.
func (s *Server) getLabel(w http.ResponseWriter, r *http.Request) error {
	l, _, err := s.labelFor(r, rbac.ReadLabel)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, labelJSON(l))
}

// updateLabel: PUT /labels/{label_id} changes the name, description and
// color. Harbor ignores a scope or project_id in the body; berth refuses
// one that differs from the label's rather than drop it silently (clients
// that send the label back as they read it, or without a project_id, as
// harbor-cli does, are fine).
func (s *Server) updateLabel(w http.ResponseWriter, r *http.Request) error {
	l, p, err := s.labelFor(r, rbac.UpdateLabel)
	if err != nil {
		return err
	}
	var req labelReq
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Scope != "" && req.Scope != l.Scope || req.ProjectID != 0 && req.ProjectID != l.ProjectID {
		return errBadRequest("a label's scope and project cannot be changed")
	}
	if err := validLabel(req); err != nil {
		return err
	}
	l.Name, l.Description, l.Color = req.Name, req.Description, req.Color
	err = s.opt.Catalog.UpdateLabel(r.Context(), l)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return errConflict(fmt.Sprintf("label %s already exists", l.Name))
	case isNotFound(err):
		return errNotFound(fmt.Sprintf("label %d not found", l.ID))
	case err != nil:
		return err
	}
	s.record(r.Context(), r, "update", "label", l.Name, p)
	return ok(w)
}

// deleteLabel: DELETE /labels/{label_id}; the label is removed from every
// artifact too.
func (s *Server) deleteLabel(w http.ResponseWriter, r *http.Request) error {
	l, p, err := s.labelFor(r, rbac.DeleteLabel)
	if err != nil {
		return err
	}
	if err := s.opt.Catalog.DeleteLabel(r.Context(), l.ID); isNotFound(err) {
		return errNotFound(fmt.Sprintf("label %d not found", l.ID))
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "label", l.Name, p)
	return ok(w)
}
