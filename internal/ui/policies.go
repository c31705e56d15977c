package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The project's "Policies" tab: tag retention (Harbor's /retentions).
// Reading the policy and its runs takes tag-retention read; changing the
// rules or schedule and running it, tag-retention update (project admins,
// maintainers and developers, as the API decides). Every change reads the
// policy, changes it and PUTs it whole, as Harbor's portal does.

// retentionTemplates are the rule templates the form offers (Harbor's
// metadata) with the unit of their parameter ("" for none).
var retentionTemplates = []struct{ ID, Label, Unit string }{
	{"latestPushedK", "retain the most recently pushed # artifacts", "count"},
	{"latestPulledN", "retain the most recently pulled # artifacts", "count"},
	{"nDaysSinceLastPush", "retain the artifacts pushed within the last # days", "days"},
	{"nDaysSinceLastPull", "retain the artifacts pulled within the last # days", "days"},
	{"always", "retain always", ""},
}

// ruleText is a rule in words, in the page's language.
type ruleText struct {
	Index                 int
	What, Repos, Tags     string
	Disabled, HasUntagged bool
}

func (p *page) describeRule(i int, r obj) ruleText {
	t := str(r["template"])
	what := t
	for _, x := range retentionTemplates {
		if x.ID == t {
			what = p.T(x.Label)
		}
	}
	if params, _ := r["params"].(obj); params != nil {
		what = strings.Replace(what, "#", idOf(params[t]), 1)
	}
	sel := func(l any, pos, neg string) string {
		var parts []string
		for _, s := range asList(l) {
			word := p.T(pos)
			if d := str(s["decoration"]); d == "excludes" || d == "repoExcludes" {
				word = p.T(neg)
			}
			parts = append(parts, word+" "+str(s["pattern"]))
		}
		return strings.Join(parts, "; ")
	}
	scopes, _ := r["scope_selectors"].(obj)
	rt := ruleText{Index: i, What: what, Repos: sel(scopes["repository"], "matching", "excluding"),
		Tags: sel(r["tag_selectors"], "matching", "excluding"), Disabled: r["disabled"] == true}
	if rt.Repos == "" {
		rt.Repos = p.T("all")
	}
	for _, s := range asList(r["tag_selectors"]) {
		if strings.Contains(str(s["extras"]), `"untagged":true`) {
			rt.HasUntagged = true
		}
	}
	return rt
}

// asList is a JSON array of objects.
func asList(v any) []obj {
	l, _ := v.([]any)
	out := make([]obj, 0, len(l))
	for _, x := range l {
		if o, ok := x.(obj); ok {
			out = append(out, o)
		}
	}
	return out
}

// retentionOf loads the project in the path, the caller's permissions and
// its retention policy (nil when it has none). The tab needs retention
// read: without it the page is refused as the API would refuse it.
func (p *page) retentionOf() (proj obj, ps perms, id string, pol obj, err error) {
	proj, ps, err = p.projectCtx()
	if err != nil {
		return
	}
	if !ps.Can("tag-retention", "read") {
		err = &apiError{http.StatusForbidden, p.T("You are not allowed to see the policies of this project.")}
		return
	}
	md, _ := proj["metadata"].(obj)
	id = str(md["retention_id"])
	if n, e := strconv.ParseInt(id, 10, 64); e != nil || n <= 0 {
		return proj, ps, "", nil, nil
	}
	_, err = p.get("/retentions/"+url.PathEscape(id), nil, &pol)
	return
}

// policies: GET /projects/{p}/policies[?edit=N]: the retention policy,
// its rules in words, the forms and the runs.
func (s *Server) policies(p *page) error {
	proj, ps, id, pol, err := p.retentionOf()
	if err != nil {
		return err
	}
	var rules []ruleText
	var runs list
	var pg pager
	cron := ""
	editing := obj{"index": "", "template": "latestPushedK", "param": "10", "repoDecoration": "repoMatches",
		"repo": "**", "tagDecoration": "matches", "tag": "**"}
	if pol != nil {
		for i, r := range asList(pol["rules"]) {
			rules = append(rules, p.describeRule(i, r))
			if p.r.URL.Query().Get("edit") == strconv.Itoa(i) {
				editing = ruleForm(i, r)
			}
		}
		if tr, _ := pol["trigger"].(obj); tr != nil {
			if st, _ := tr["settings"].(obj); st != nil {
				cron = str(st["cron"])
				editing["next"] = st["next_scheduled_time"]
			}
		}
		h, err := p.get("/retentions/"+url.PathEscape(id)+"/executions", p.listQ(), &runs)
		if err != nil {
			return err
		}
		pg = p.pager(h, p.pageNum())
	}
	return p.show("policies", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "policies",
		"policyID": id, "rules": rules, "cron": cron, "runs": runs, "pager": pg, "form": editing,
		"templates": retentionTemplates, "canWrite": ps.Can("tag-retention", "update")})
}

// ruleForm is the form's values of rule i.
func ruleForm(i int, r obj) obj {
	f := obj{"index": strconv.Itoa(i), "template": str(r["template"]), "param": "", "repoDecoration": "repoMatches",
		"repo": "**", "tagDecoration": "matches", "tag": "**", "disabled": r["disabled"] == true}
	if params, _ := r["params"].(obj); params != nil && params[str(r["template"])] != nil {
		f["param"] = idOf(params[str(r["template"])])
	}
	scopes, _ := r["scope_selectors"].(obj)
	if l := asList(scopes["repository"]); len(l) > 0 {
		f["repoDecoration"], f["repo"] = str(l[0]["decoration"]), str(l[0]["pattern"])
	}
	if l := asList(r["tag_selectors"]); len(l) > 0 {
		f["tagDecoration"], f["tag"] = str(l[0]["decoration"]), str(l[0]["pattern"])
		f["untagged"] = strings.Contains(str(l[0]["extras"]), `"untagged":true`)
	}
	return f
}

// savePolicy stores pol (creating the project's policy when id is "").
func (p *page) savePolicy(proj obj, id string, pol obj) error {
	pol["algorithm"] = "or"
	pol["scope"] = obj{"level": "project", "ref": int64(num(proj["project_id"]))}
	if pol["rules"] == nil {
		pol["rules"] = []any{}
	}
	if id == "" {
		_, err := p.call(http.MethodPost, "/retentions", pol, nil)
		return err
	}
	_, err := p.call(http.MethodPut, "/retentions/"+url.PathEscape(id), pol, nil)
	return err
}

// emptyPolicy is a policy without rules, run by hand only.
func emptyPolicy() obj {
	return obj{"rules": []any{}, "trigger": obj{"kind": "Schedule", "settings": obj{"cron": ""}}}
}

// saveRule: POST /projects/{p}/policies/rules: adds a rule, or replaces
// rule index.
func (s *Server) saveRule(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/policies"
	proj, _, id, pol, err := p.retentionOf()
	if err != nil {
		return p.back(to, err)
	}
	f := p.r.PostForm
	tmpl := f.Get("template")
	rule := obj{"action": "retain", "template": tmpl, "params": obj{}, "disabled": f.Get("disabled") == "on"}
	for _, t := range retentionTemplates {
		if t.ID == tmpl && t.Unit != "" {
			n, err := strconv.Atoi(strings.TrimSpace(f.Get("param")))
			if err != nil || n < 0 {
				return p.done(to, "The count or number of days must be a whole number.")
			}
			rule["params"] = obj{tmpl: n}
		}
	}
	extras, _ := json.Marshal(obj{"untagged": f.Get("untagged") == "on"})
	rule["tag_selectors"] = []obj{{"kind": "doublestar", "decoration": pick(f.Get("tag_decoration"), "matches", "excludes"),
		"pattern": orAll(f.Get("tag")), "extras": string(extras)}}
	rule["scope_selectors"] = obj{"repository": []obj{{"kind": "doublestar",
		"decoration": pick(f.Get("repo_decoration"), "repoMatches", "repoExcludes"), "pattern": orAll(f.Get("repo"))}}}
	if pol == nil {
		pol = emptyPolicy()
	}
	rules, _ := pol["rules"].([]any)
	msg := "Rule created."
	if i, err := strconv.Atoi(f.Get("index")); err == nil {
		if i < 0 || i >= len(rules) {
			return p.done(to, "That rule no longer exists.")
		}
		rules[i] = rule
		msg = "Rule updated."
	} else {
		rules = append(rules, rule)
	}
	pol["rules"] = rules
	if err := p.savePolicy(proj, id, pol); err != nil {
		return p.back(to, err)
	}
	return p.done(to, msg)
}

// pick is v if it is one of the choices, else the first.
func pick(v string, choices ...string) string {
	if contains(choices, v) {
		return v
	}
	return choices[0]
}

// orAll is a pattern, "**" when empty.
func orAll(v string) string {
	if v = strings.TrimSpace(v); v == "" {
		return "**"
	}
	return v
}

// deleteRule: POST /projects/{p}/policies/rules/{i}/delete.
func (s *Server) deleteRule(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/policies"
	proj, _, id, pol, err := p.retentionOf()
	if err != nil {
		return p.back(to, err)
	}
	rules, _ := pol["rules"].([]any)
	i, err := strconv.Atoi(p.r.PathValue("i"))
	if pol == nil || err != nil || i < 0 || i >= len(rules) {
		return p.done(to, "That rule no longer exists.")
	}
	pol["rules"] = append(rules[:i:i], rules[i+1:]...)
	if err := p.savePolicy(proj, id, pol); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Rule deleted.")
}

// retentionSchedule: POST /projects/{p}/policies/schedule (cron; empty:
// run by hand only).
func (s *Server) retentionSchedule(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/policies"
	proj, _, id, pol, err := p.retentionOf()
	if err != nil {
		return p.back(to, err)
	}
	if pol == nil {
		pol = emptyPolicy()
	}
	pol["trigger"] = obj{"kind": "Schedule", "settings": obj{"cron": strings.TrimSpace(p.r.PostForm.Get("cron"))}}
	if err := p.savePolicy(proj, id, pol); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Schedule saved.")
}

// runRetention: POST /projects/{p}/policies/run (dry_run=true|false);
// it goes to the run's page.
func (s *Server) runRetention(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/policies"
	_, _, id, _, err := p.retentionOf()
	if err != nil {
		return p.back(to, err)
	}
	if id == "" {
		return p.done(to, "Add a rule first.")
	}
	dry := p.r.PostForm.Get("dry_run") == "true"
	h, err := p.call(http.MethodPost, "/retentions/"+url.PathEscape(id)+"/executions", obj{"dry_run": dry}, nil)
	if err != nil {
		return p.back(to, err)
	}
	msg := "Retention started."
	if dry {
		msg = "Dry run started."
	}
	eid := h.Get("Location")
	eid = eid[strings.LastIndex(eid, "/")+1:]
	return p.done(to+"/runs/"+url.PathEscape(eid), msg)
}

// retentionRun: GET /projects/{p}/policies/runs/{eid}: the run's tasks,
// one per repository, with what went (or would go) and the bytes freed.
func (s *Server) retentionRun(p *page) error {
	proj, ps, id, _, err := p.retentionOf()
	if err != nil {
		return err
	}
	if id == "" {
		return &apiError{http.StatusNotFound, p.T("This project has no retention policy.")}
	}
	eid, err := strconv.ParseInt(p.r.PathValue("eid"), 10, 64)
	if err != nil || eid <= 0 {
		return &apiError{http.StatusNotFound, p.T("No such run.")}
	}
	base := "/retentions/" + url.PathEscape(id) + "/executions/" + strconv.FormatInt(eid, 10)
	var runs list
	// The run itself: the executions list filtered by id (there is no
	// GET of one retention execution in Harbor's API).
	if _, err := p.get("/retentions/"+url.PathEscape(id)+"/executions", url.Values{"q": {"id=" + strconv.FormatInt(eid, 10)}}, &runs); err != nil {
		return err
	}
	if len(runs) == 0 {
		return &apiError{http.StatusNotFound, p.T("No such run.")}
	}
	var tasks list
	h, err := p.get(base+"/tasks", p.listQ(), &tasks)
	if err != nil {
		return err
	}
	var freed, deleted float64
	for _, t := range tasks {
		freed += num(t["freed_bytes"])
		deleted += num(t["deleted_count"])
	}
	return p.show("retention_run", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "policies",
		"run": runs[0], "tasks": tasks, "pager": p.pager(h, p.pageNum()), "freed": freed, "deleted": deleted,
		"running":  runs[0]["status"] == "Running" || runs[0]["status"] == "Pending",
		"canWrite": ps.Can("tag-retention", "update")})
}

// retentionTask: GET /projects/{p}/policies/runs/{eid}/tasks/{tid}: a
// repository's report (the artifacts that went, or would) and its log.
func (s *Server) retentionTask(p *page) error {
	proj, ps, id, _, err := p.retentionOf()
	if err != nil {
		return err
	}
	if id == "" {
		return &apiError{http.StatusNotFound, p.T("This project has no retention policy.")}
	}
	path := "/retentions/" + url.PathEscape(id) + "/executions/" + url.PathEscape(p.r.PathValue("eid")) +
		"/tasks/" + url.PathEscape(p.r.PathValue("tid"))
	var report obj
	p.extra = http.Header{"Accept": {"application/json"}}
	_, err = p.get(path, nil, &report)
	p.extra = nil
	if err != nil {
		return err
	}
	var log []byte
	if _, err := p.get(path, nil, &log); err != nil {
		return err
	}
	return p.show("retention_task", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "policies",
		"report": report, "deleted": asList(report["deleted"]), "log": string(log), "eid": p.r.PathValue("eid")})
}

// stopRetention: POST /projects/{p}/policies/runs/{eid}/stop asks a run
// to stop (a pending one stops at once, a running one after the
// repository it is on).
func (s *Server) stopRetention(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/policies"
	_, _, id, _, err := p.retentionOf()
	if err != nil {
		return p.back(to, err)
	}
	eid, err := strconv.ParseInt(p.r.PathValue("eid"), 10, 64)
	if id == "" || err != nil || eid <= 0 {
		return p.done(to, "No such run.")
	}
	run := to + "/runs/" + strconv.FormatInt(eid, 10)
	if _, err := p.call(http.MethodPatch, "/retentions/"+url.PathEscape(id)+"/executions/"+strconv.FormatInt(eid, 10),
		obj{"action": "stop"}, nil); err != nil {
		return p.back(run, err)
	}
	return p.done(run, "Stop requested.")
}
