package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// perms are the caller's permissions in a scope ("/project/1",
// "/system"), as the API's /users/current/permissions reports them:
// pages show only the actions the API would allow.
type perms map[string]bool

// Can reports whether resource/action is allowed.
func (ps perms) Can(resource, action string) bool { return ps[resource+"/"+action] }

func (p *page) perms(scope string) (perms, error) {
	ps := perms{}
	if p.User == nil {
		return ps, nil
	}
	var l []struct{ Resource, Action string }
	if _, err := p.get("/users/current/permissions", url.Values{"scope": {scope}, "relative": {"true"}}, &l); err != nil {
		return nil, err
	}
	for _, x := range l {
		ps[x.Resource+"/"+x.Action] = true
	}
	return ps, nil
}

// projects: GET /projects?q=&page=.
//
// The storage column comes from each listed project's summary (the API
// has no call giving the quotas of a page of projects, and /quotas is for
// administrators only): one in-process call per row of a page of at most
// pageSize rows, each a few indexed queries.
func (s *Server) projects(p *page) error {
	q := strings.TrimSpace(p.r.URL.Query().Get("q"))
	var l list
	h, err := p.get("/projects", p.listQ("name", q, "sort", "name"), &l)
	if err != nil {
		return err
	}
	for _, pr := range l {
		name, _ := pr["name"].(string)
		var summary obj
		if _, err := p.get(projectURL(name)+"/summary", nil, &summary); err == nil {
			pr["quota"] = quotaOf(summary)
		}
	}
	ps, err := p.perms("/system")
	if err != nil {
		return err
	}
	// Harbor's portal reads the creation restriction from /systeminfo
	// (signed-in callers get it); the API refuses anyway.
	canCreate := ps.Can("project", "create")
	if canCreate && !p.Admin() {
		var info obj
		if _, err := p.get("/systeminfo", nil, &info); err != nil {
			return err
		}
		canCreate = info["project_creation_restriction"] != "adminonly"
	}
	// Administrators may make a project a proxy cache of a registry.
	var registries list
	if canCreate && p.Admin() {
		if _, err := p.get("/registries", url.Values{"page_size": {"100"}}, &registries); err != nil {
			registries = nil // registries not running here: no proxy caches
		}
	}
	return p.show("projects", "Projects", "projects", obj{"projects": l, "q": q, "pager": p.pager(h, p.pageNum()),
		"canCreate": canCreate, "registries": registries})
}

// createProject: POST /projects (name, public, storage limit in GiB, and
// for a proxy cache the registry it caches).
func (s *Server) createProject(p *page) error {
	f := p.r.PostForm
	body := obj{"project_name": f.Get("name"), "metadata": obj{"public": strconv.FormatBool(f.Get("public") == "on")}}
	if v := strings.TrimSpace(f.Get("storage_gib")); v != "" {
		g, err := strconv.ParseFloat(v, 64)
		if err != nil || g < 0 {
			return p.back("/projects", &apiError{http.StatusBadRequest, p.T("Storage limit must be a number of GiB.")})
		}
		body["storage_limit"] = int64(g * (1 << 30))
	}
	if v := f.Get("registry_id"); v != "" { // a proxy-cache project of that registry
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return p.back("/projects", &apiError{http.StatusBadRequest, p.T("Choose a registry.")})
		}
		body["registry_id"] = id
	}
	if _, err := p.call(http.MethodPost, "/projects", body, nil); err != nil {
		return p.back("/projects", err)
	}
	return p.done("/projects/"+url.PathEscape(f.Get("name")), "Project created.")
}

// back ends a failed form post: API refusals (a bad name, a conflict, a
// forbidden action) return to the form's page with the message; anything
// else is an error page.
func (p *page) back(to string, err error) error {
	ae, ok := err.(*apiError)
	if !ok || ae.Status >= 500 || ae.Status == http.StatusUnauthorized && p.User == nil {
		return err
	}
	return p.done(to, ae.Message)
}

// projectCtx loads the project in the path and the caller's permissions
// in it: every project page starts here.
func (p *page) projectCtx() (obj, perms, error) {
	name := p.r.PathValue("p")
	var proj obj
	if _, err := p.get("/projects/"+url.PathEscape(name), nil, &proj); err != nil {
		return nil, nil, err
	}
	ps, err := p.perms("/project/" + idOf(proj["project_id"]))
	if err != nil {
		return nil, nil, err
	}
	return proj, ps, nil
}

// project: GET /projects/{p}: its repositories and summary.
func (s *Server) project(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	name := p.r.PathValue("p")
	q := strings.TrimSpace(p.r.URL.Query().Get("q"))
	lq := p.listQ()
	if q != "" && !strings.ContainsAny(q, ",{}()") { // characters of the q language: never in a name
		lq.Set("q", "name=~"+q)
	}
	var repos list
	h, err := p.get("/projects/"+url.PathEscape(name)+"/repositories", lq, &repos)
	if err != nil {
		return err
	}
	var summary obj
	if _, err := p.get("/projects/"+url.PathEscape(name)+"/summary", nil, &summary); err != nil {
		return err
	}
	return p.show("project", name, "projects", obj{"project": proj, "perms": ps, "tab": "repositories", "repos": repos,
		"q": q, "pager": p.pager(h, p.pageNum()), "summary": summary, "quota": quotaOf(summary)})
}

// quota is a project's storage use and limit (-1: unlimited).
type quota struct {
	Used, Hard int64
	Percent    int
}

func quotaOf(summary obj) *quota {
	q, _ := summary["quota"].(obj)
	if q == nil {
		return nil
	}
	hard, _ := q["hard"].(obj)
	used, _ := q["used"].(obj)
	out := &quota{Used: int64(num(used["storage"])), Hard: int64(num(hard["storage"]))}
	if out.Hard > 0 {
		out.Percent = int(min(100, out.Used*100/out.Hard))
	}
	return out
}

// deleteProject: POST /projects/{p}/delete (confirmed with a checkbox).
func (s *Server) deleteProject(p *page) error {
	name := p.r.PathValue("p")
	if p.r.PostForm.Get("confirm") != "on" {
		return p.done("/projects/"+url.PathEscape(name), "Tick the box to confirm.")
	}
	if _, err := p.call(http.MethodDelete, "/projects/"+url.PathEscape(name), nil, nil); err != nil {
		return p.back("/projects/"+url.PathEscape(name), err)
	}
	return p.done("/projects", "Project deleted.")
}

// num is a JSON number (or numeric string) as float64.
func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	case int64:
		return float64(x)
	case int:
		return float64(x)
	}
	return 0
}

// setVisibility: POST /projects/{p}/visibility (public=true|false).
func (s *Server) setVisibility(p *page) error {
	name := p.r.PathValue("p")
	public := strconv.FormatBool(p.r.PostForm.Get("public") == "true")
	if _, err := p.call(http.MethodPut, "/projects/"+url.PathEscape(name), obj{"metadata": obj{"public": public}}, nil); err != nil {
		return p.back(projectURL(name), err)
	}
	return p.done(projectURL(name), "Project updated.")
}
