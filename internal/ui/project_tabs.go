package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// projectURL is the page of project name.
func projectURL(name string) string { return "/projects/" + url.PathEscape(name) }

// roles are Harbor's project roles, in the order forms list them.
var roles = []struct {
	ID   int
	Name string
}{{1, "Project admin"}, {4, "Maintainer"}, {2, "Developer"}, {3, "Guest"}, {5, "Limited guest"}}

// members: GET /projects/{p}/members.
func (s *Server) members(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	var l list
	h, err := p.get(projectURL(p.r.PathValue("p"))+"/members", p.listQ("entityname", p.r.URL.Query().Get("q")), &l)
	if err != nil {
		return err
	}
	return p.show("members", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "members",
		"members": l, "roles": roles, "pager": p.pager(h, p.pageNum()), "q": p.r.URL.Query().Get("q")})
}

func roleOf(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1 && n <= 5
}

// addMember: POST /projects/{p}/members (kind, name, role): a user by
// name, an LDAP group by DN (kind ldap) or an OIDC group by name (kind
// oidc); the API onboards a group it does not know yet.
func (s *Server) addMember(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/members"
	role, ok := roleOf(p.r.PostForm.Get("role"))
	if !ok {
		return p.done(to, "Choose a role.")
	}
	name := strings.TrimSpace(p.r.PostForm.Get("username"))
	body := obj{"role_id": role, "member_user": obj{"username": name}}
	switch p.r.PostForm.Get("kind") {
	case "ldap":
		body = obj{"role_id": role, "member_group": obj{"group_type": 1, "ldap_group_dn": name}}
	case "oidc":
		body = obj{"role_id": role, "member_group": obj{"group_type": 3, "group_name": name}}
	}
	if _, err := p.call(http.MethodPost, to, body, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Member added.")
}

// changeMember: POST /projects/{p}/members/{id}: action=role changes
// the role, action=delete removes the member.
func (s *Server) changeMember(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/members"
	api := to + "/" + url.PathEscape(p.r.PathValue("id"))
	var err error
	msg := "Member removed."
	if p.r.PostForm.Get("action") == "delete" {
		_, err = p.call(http.MethodDelete, api, nil, nil)
	} else {
		role, ok := roleOf(p.r.PostForm.Get("role"))
		if !ok {
			return p.done(to, "Choose a role.")
		}
		_, err = p.call(http.MethodPut, api, obj{"role_id": role}, nil)
		msg = "Role changed."
	}
	if err != nil {
		return p.back(to, err)
	}
	return p.done(to, msg)
}

// robotGrants are the permissions the robot form offers.
var robotGrants = []struct{ Resource, Action, Label string }{
	{"repository", "pull", "Pull"}, {"repository", "push", "Push"}, {"artifact", "delete", "Delete artifacts"},
	{"tag", "create", "Create tags"}, {"tag", "delete", "Delete tags"}, {"artifact", "list", "List artifacts"},
}

// robots: GET /projects/{p}/robots.
func (s *Server) robots(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	var l list
	h, err := p.get("/robots", p.listQ("q", "Level=project,ProjectID="+idOf(proj["project_id"])), &l)
	if err != nil {
		return err
	}
	return p.show("robots", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "robots",
		"robots": l, "grants": robotGrants, "pager": p.pager(h, p.pageNum()),
		"canWrite": ps.Can("robot", "create"), "robotBase": projectURL(p.r.PathValue("p")) + "/robots"})
}

// robotBody is the API body of a robot from the form: level, the
// project (empty: every project) and the ticked permissions.
func (p *page) robotBody(level, project string) (obj, error) {
	f := p.r.PostForm
	days, err := strconv.Atoi(strings.TrimSpace(f.Get("days")))
	if err != nil || days == 0 || days < -1 {
		return nil, &apiError{http.StatusBadRequest, p.T("Expiry must be a number of days, or -1 for never.")}
	}
	var access []obj
	for _, g := range robotGrants {
		if f.Get("perm") != "" && contains(f["perm"], g.Resource+"/"+g.Action) {
			access = append(access, obj{"resource": g.Resource, "action": g.Action})
		}
	}
	if len(access) == 0 {
		return nil, &apiError{http.StatusBadRequest, p.T("Choose at least one permission.")}
	}
	ns := project
	if ns == "" {
		ns = "*"
	}
	return obj{"name": strings.TrimSpace(f.Get("name")), "description": f.Get("description"), "level": level, "duration": days,
		"permissions": []obj{{"kind": "project", "namespace": ns, "access": access}}}, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// createRobot: POST /projects/{p}/robots answers with the secret, shown
// this once (the page is not stored: no-store).
func (s *Server) createRobot(p *page) error {
	name := p.r.PathValue("p")
	to := projectURL(name) + "/robots"
	body, err := p.robotBody("project", name)
	if err != nil {
		return p.back(to, err)
	}
	var created obj
	if _, err := p.call(http.MethodPost, "/robots", body, &created); err != nil {
		return p.back(to, err)
	}
	return p.show("robot_secret", "Robot account created", "projects", obj{"robot": created, "back": to})
}

// deleteRobot: POST /projects/{p}/robots/{id}/delete.
func (s *Server) deleteRobot(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/robots"
	if _, err := p.call(http.MethodDelete, "/robots/"+url.PathEscape(p.r.PathValue("id")), nil, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Robot account deleted.")
}

// labels: GET /projects/{p}/labels.
func (s *Server) labels(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	var l list
	h, err := p.get("/labels", p.listQ("scope", "p", "project_id", idOf(proj["project_id"])), &l)
	if err != nil {
		return err
	}
	return p.show("labels", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "labels",
		"labels": l, "pager": p.pager(h, p.pageNum())})
}

// createLabel: POST /projects/{p}/labels.
func (s *Server) createLabel(p *page) error {
	proj, _, err := p.projectCtx()
	if err != nil {
		return err
	}
	to := projectURL(p.r.PathValue("p")) + "/labels"
	f := p.r.PostForm
	body := obj{"name": strings.TrimSpace(f.Get("name")), "description": f.Get("description"), "color": f.Get("color"),
		"scope": "p", "project_id": int64(num(proj["project_id"]))}
	if _, err := p.call(http.MethodPost, "/labels", body, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Label created.")
}

// deleteLabel: POST /projects/{p}/labels/{id}/delete.
func (s *Server) deleteLabel(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/labels"
	if _, err := p.call(http.MethodDelete, "/labels/"+url.PathEscape(p.r.PathValue("id")), nil, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Label deleted.")
}

// logs: GET /projects/{p}/logs?user=&op=.
func (s *Server) logs(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	user, op := p.r.URL.Query().Get("user"), p.r.URL.Query().Get("op")
	var l list
	h, err := p.get(projectURL(p.r.PathValue("p"))+"/logs", p.listQ("q", auditQ(user, op, ""), "sort", "-op_time"), &l)
	if err != nil {
		return err
	}
	return p.show("logs", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "logs",
		"logs": l, "user": user, "op": op, "pager": p.pager(h, p.pageNum())})
}

// auditQ is Harbor's q for the audit filters (empty ones left out).
func auditQ(user, op, resource string) string {
	var terms []string
	for _, t := range [][2]string{{"username", user}, {"operation", op}, {"resource", resource}} {
		if v := strings.TrimSpace(t[1]); v != "" && !strings.ContainsAny(v, ",{}()") {
			terms = append(terms, t[0]+"=~"+v)
		}
	}
	return strings.Join(terms, ",")
}

// immutability: GET /projects/{p}/immutability.
func (s *Server) immutability(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	var l list
	h, err := p.get(projectURL(p.r.PathValue("p"))+"/immutabletagrules", p.listQ(), &l)
	if err != nil {
		return err
	}
	return p.show("immutability", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "immutability",
		"rules": l, "pager": p.pager(h, p.pageNum())})
}

// createImmutable: POST /projects/{p}/immutability (repository and tag
// patterns, doublestar).
func (s *Server) createImmutable(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/immutability"
	f := p.r.PostForm
	repo, tag := strings.TrimSpace(f.Get("repo")), strings.TrimSpace(f.Get("tag"))
	if repo == "" {
		repo = "**"
	}
	body := obj{"disabled": false, "action": "immutable", "template": "immutable_template",
		"tag_selectors":   []obj{{"kind": "doublestar", "decoration": "matches", "pattern": tag}},
		"scope_selectors": obj{"repository": []obj{{"kind": "doublestar", "decoration": "repoMatches", "pattern": repo}}}}
	if _, err := p.call(http.MethodPost, projectURL(p.r.PathValue("p"))+"/immutabletagrules", body, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Rule created.")
}

// deleteImmutable: POST /projects/{p}/immutability/{id}/delete.
func (s *Server) deleteImmutable(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/immutability"
	if _, err := p.call(http.MethodDelete, projectURL(p.r.PathValue("p"))+"/immutabletagrules/"+url.PathEscape(p.r.PathValue("id")), nil, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Rule deleted.")
}

// idOf is a JSON id as decimal text.
func idOf(v any) string { return strconv.FormatInt(int64(num(v)), 10) }
