package ui

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// adminSections are the administration pages, in the order of the
// section's navigation. Pages of system jobs (garbage collection, audit
// purge, retention runs), registries and replication join this list as
// those features land.
var adminSections = []struct{ Path, Label string }{
	{"/admin/users", "Users"}, {"/admin/robots", "Robot accounts"}, {"/admin/audit", "Audit log"},
	{"/admin/configuration", "Configuration"}, {"/admin/system", "System info"},
	{"/admin/quotas", "Quotas"}, {"/admin/purgeaudit", "Audit log purge"}, {"/admin/gc", "Garbage collection"},
	{"/admin/scanning", "Vulnerability scanning"}, {hubPath, "Security hub"},
	{"/admin/registries", "Registries"}, {"/admin/replication", "Replication"},
}

// admin shows an administration page. The API decides who may read it
// (system administrators); the navigation is only shown to them.
func (p *page) admin(tmpl, title, section string, data obj) error {
	data["sections"], data["section"] = adminSections, section
	return p.show(tmpl, title, "admin", data)
}

// users: GET /admin/users?q=.
func (s *Server) users(p *page) error {
	q := strings.TrimSpace(p.r.URL.Query().Get("q"))
	var l list
	lq := p.listQ("sort", "username")
	if q != "" && !strings.ContainsAny(q, ",{}()") {
		lq.Set("q", "username=~"+q)
	}
	h, err := p.get("/users", lq, &l)
	if err != nil {
		return err
	}
	return p.admin("users", "Users", "/admin/users", obj{"users": l, "q": q, "pager": p.pager(h, p.pageNum())})
}

// createUser: POST /admin/users.
func (s *Server) createUser(p *page) error {
	f := p.r.PostForm
	body := obj{"username": strings.TrimSpace(f.Get("username")), "email": strings.TrimSpace(f.Get("email")),
		"realname": strings.TrimSpace(f.Get("realname")), "password": f.Get("password")}
	if _, err := p.call(http.MethodPost, "/users", body, nil); err != nil {
		return p.back("/admin/users", err)
	}
	return p.done("/admin/users", "User created.")
}

// changeUser: POST /admin/users/{id}: action admin=true|false,
// password (reset), delete.
func (s *Server) changeUser(p *page) error {
	f := p.r.PostForm
	api := "/users/" + url.PathEscape(p.r.PathValue("id"))
	var err error
	msg := "User updated."
	switch f.Get("action") {
	case "admin":
		_, err = p.call(http.MethodPut, api+"/sysadmin", obj{"sysadmin_flag": f.Get("admin") == "true"}, nil)
	case "password":
		_, err = p.call(http.MethodPut, api+"/password", obj{"new_password": f.Get("password")}, nil)
		msg = "Password reset."
	case "delete":
		if f.Get("confirm") != "on" {
			return p.done("/admin/users", "Tick the box to confirm.")
		}
		_, err = p.call(http.MethodDelete, api, nil, nil)
		msg = "User deleted."
	default:
		return &apiError{http.StatusBadRequest, "unknown action"}
	}
	if err != nil {
		return p.back("/admin/users", err)
	}
	return p.done("/admin/users", msg)
}

// systemRobots: GET /admin/robots.
func (s *Server) systemRobots(p *page) error {
	var l list
	h, err := p.get("/robots", p.listQ("q", "Level=system"), &l)
	if err != nil {
		return err
	}
	return p.admin("system_robots", "Robot accounts", "/admin/robots", obj{"robots": l, "grants": robotGrants,
		"pager": p.pager(h, p.pageNum()), "canWrite": true, "robotBase": "/admin/robots"})
}

// createSystemRobot: POST /admin/robots: a system robot with the ticked
// permissions in every project; the secret is shown once.
func (s *Server) createSystemRobot(p *page) error {
	body, err := p.robotBody("system", "")
	if err != nil {
		return p.back("/admin/robots", err)
	}
	var created obj
	if _, err := p.call(http.MethodPost, "/robots", body, &created); err != nil {
		return p.back("/admin/robots", err)
	}
	return p.show("robot_secret", "Robot account created", "admin", obj{"robot": created, "back": "/admin/robots"})
}

// deleteSystemRobot: POST /admin/robots/{id}/delete.
func (s *Server) deleteSystemRobot(p *page) error {
	if _, err := p.call(http.MethodDelete, "/robots/"+url.PathEscape(p.r.PathValue("id")), nil, nil); err != nil {
		return p.back("/admin/robots", err)
	}
	return p.done("/admin/robots", "Robot account deleted.")
}

// audit: GET /admin/audit?user=&op=&resource=.
func (s *Server) audit(p *page) error {
	v := p.r.URL.Query()
	var l list
	h, err := p.get("/audit-logs", p.listQ("q", auditQ(v.Get("user"), v.Get("op"), v.Get("resource")), "sort", "-op_time"), &l)
	if err != nil {
		return err
	}
	return p.admin("audit", "Audit log", "/admin/audit", obj{"logs": l, "user": v.Get("user"), "op": v.Get("op"),
		"resource": v.Get("resource"), "pager": p.pager(h, p.pageNum())})
}

// setting is one configuration row.
type setting struct {
	Key      string
	Value    any
	Editable bool
}

// configuration: GET /admin/configuration.
func (s *Server) configuration(p *page) error {
	var cfg map[string]struct {
		Value    any  `json:"value"`
		Editable bool `json:"editable"`
	}
	if _, err := p.get("/configurations", nil, &cfg); err != nil {
		return err
	}
	rows := make([]setting, 0, len(cfg))
	for k, v := range cfg {
		rows = append(rows, setting{k, v.Value, v.Editable})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	val := func(k string) any { return cfg[k].Value }
	return p.admin("configuration", "Configuration", "/admin/configuration", obj{"rows": rows,
		"restriction": val("project_creation_restriction"), "readOnly": val("read_only") == true,
		"robotDays": val("robot_token_duration"), "editable": cfg["project_creation_restriction"].Editable})
}

// saveConfiguration: POST /admin/configuration (the settings the form
// edits).
func (s *Server) saveConfiguration(p *page) error {
	f := p.r.PostForm
	body := obj{"project_creation_restriction": f.Get("project_creation_restriction"), "read_only": f.Get("read_only") == "on"}
	if v := strings.TrimSpace(f.Get("robot_token_duration")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p.done("/admin/configuration", "Robot expiry must be a number of days.")
		}
		body["robot_token_duration"] = n
	}
	if _, err := p.call(http.MethodPut, "/configurations", body, nil); err != nil {
		return p.back("/admin/configuration", err)
	}
	return p.done("/admin/configuration", "Configuration saved.")
}

// system: GET /admin/system: version, storage, statistics.
func (s *Server) system(p *page) error {
	var info, vols, stats obj
	if _, err := p.get("/systeminfo", nil, &info); err != nil {
		return err
	}
	if _, err := p.get("/systeminfo/volumes", nil, &vols); err != nil {
		return err
	}
	if _, err := p.get("/statistics", nil, &stats); err != nil {
		return err
	}
	// The vulnerability database's date, from the built-in scanner's
	// metadata (Harbor's property); none when scanning does not run.
	var scanner struct {
		Properties map[string]string `json:"properties"`
	}
	vulnDB := ""
	if _, err := p.get("/scanners/berth-builtin/metadata", nil, &scanner); err == nil {
		vulnDB = scanner.Properties["harbor.scanner-adapter/vulnerability-database-updated-at"]
	}
	return p.admin("system", "System info", "/admin/system", obj{"info": info, "volumes": vols, "stats": stats, "vulnDB": vulnDB})
}
