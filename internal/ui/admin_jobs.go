package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Administration pages of the system jobs (Harbor's schedule-shaped APIs:
// the audit log purge, garbage collection): the schedule, run now (or a
// dry run), the runs and each run's log. And the quotas page.

// sysJob is one system job's page.
type sysJob struct {
	Path, API, Title string
	// params are the job's parameters from the form, in Harbor's keys;
	// fields are their form inputs.
	params func(p *page, f url.Values) (obj, error)
	fields []jobField
}

// jobField is an input of a job's parameters form.
type jobField struct {
	Key, Label, Type, Default string // Type: number, text, checkbox
}

var purgeJob = sysJob{Path: "/admin/purgeaudit", API: "/system/purgeaudit", Title: "Audit log purge",
	fields: []jobField{
		{"audit_retention_hour", "Keep the last hours of audit log", "number", "168"},
		{"include_event_types", "Event types to purge (comma-separated)", "text", "create_artifact,delete_artifact,pull_artifact"},
	},
	params: func(p *page, f url.Values) (obj, error) {
		h, err := strconv.Atoi(strings.TrimSpace(f.Get("audit_retention_hour")))
		if err != nil {
			return nil, &apiError{http.StatusBadRequest, p.T("Hours must be a whole number.")}
		}
		return obj{"audit_retention_hour": h, "include_event_types": strings.TrimSpace(f.Get("include_event_types"))}, nil
	}}

var gcJob = sysJob{Path: "/admin/gc", API: "/system/gc", Title: "Garbage collection",
	fields: []jobField{
		{"delete_untagged", "Delete untagged artifacts", "checkbox", ""},
		{"workers", "Workers (1 to 10)", "number", "1"},
		{"time_window", "Keep blobs uploaded in the last hours", "number", "2"},
	},
	params: func(p *page, f url.Values) (obj, error) {
		w, err1 := strconv.Atoi(strings.TrimSpace(f.Get("workers")))
		tw, err2 := strconv.Atoi(strings.TrimSpace(f.Get("time_window")))
		if err1 != nil || err2 != nil {
			return nil, &apiError{http.StatusBadRequest, p.T("Workers and hours must be whole numbers.")}
		}
		return obj{"delete_untagged": f.Get("delete_untagged") == "on", "workers": w, "time_window": tw}, nil
	}}

// scheduleTypes are Harbor's schedule types a form offers.
var scheduleTypes = []string{"None", "Hourly", "Daily", "Weekly", "Custom"}

// jobValue is a field with its current value.
type jobValue struct {
	jobField
	Value   string
	Checked bool
}

// jobPage: GET of a system job's page.
func (p *page) jobPage(j sysJob) error {
	var sched obj
	if _, err := p.get(j.API+"/schedule", nil, &sched); err != nil {
		return err
	}
	cur := obj{}
	typ, cron := "None", ""
	if sched != nil {
		if s, _ := sched["schedule"].(obj); s != nil {
			typ, cron = str(s["type"]), str(s["cron"])
			cur["next"] = s["next_scheduled_time"]
		}
		_ = json.Unmarshal([]byte(str(sched["job_parameters"])), &cur)
	}
	vals := make([]jobValue, len(j.fields))
	for i, f := range j.fields {
		v := jobValue{jobField: f, Value: f.Default}
		if x, ok := cur[f.Key]; ok {
			v.Value = jsonText(x)
			if s, ok := x.(string); ok {
				v.Value = s
			}
			v.Checked = x == true
		}
		vals[i] = v
	}
	var runs list
	h, err := p.get(j.API, p.listQ(), &runs)
	if err != nil {
		return err
	}
	for _, r := range runs {
		r["params"] = paramsText(str(r["job_parameters"]))
	}
	return p.admin("sysjob", j.Title, j.Path, obj{"job": j, "fields": vals, "type": typ, "cron": cron, "next": cur["next"],
		"types": scheduleTypes, "runs": runs, "pager": p.pager(h, p.pageNum())})
}

// jsonText is v as JSON text.
func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// paramsText is a job's parameters (a JSON object in a string) as
// "key: value" lines, sorted.
func paramsText(s string) []string {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		t := jsonText(v)
		if x, ok := v.(string); ok {
			t = x
		}
		out = append(out, k+": "+t)
	}
	sort.Strings(out)
	return out
}

// jobPost: POST of a system job's page: action=schedule saves the
// schedule (None removes it), run and dry run start it now.
func (p *page) jobPost(j sysJob) error {
	f := p.r.PostForm
	params, err := j.params(p, f)
	if err != nil {
		return p.back(j.Path, err)
	}
	var typ string
	msg := "Schedule saved."
	method := http.MethodPut
	switch f.Get("action") {
	case "schedule":
		typ = pick(f.Get("type"), scheduleTypes...)
	case "run", "dry":
		typ, method = "Manual", http.MethodPost
		params["dry_run"] = f.Get("action") == "dry"
		msg = "Job started."
	default:
		return &apiError{http.StatusBadRequest, "unknown action"}
	}
	if _, ok := params["dry_run"]; !ok {
		params["dry_run"] = false
	}
	body := obj{"schedule": obj{"type": typ, "cron": strings.TrimSpace(f.Get("cron"))}, "parameters": params}
	h, err := p.call(method, j.API+"/schedule", body, nil)
	if err != nil {
		return p.back(j.Path, err)
	}
	if typ == "Manual" {
		loc := h.Get("Location")
		run := path.Join(j.Path, url.PathEscape(path.Base(loc)))
		return p.done(run, msg)
	}
	return p.done(j.Path, msg)
}

// jobRun: GET of one run of a system job: its parameters, status and log.
func (p *page) jobRun(j sysJob) error {
	id, err := strconv.ParseInt(p.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return &apiError{http.StatusNotFound, p.T("No such run.")}
	}
	api := j.API + "/" + strconv.FormatInt(id, 10)
	var run obj
	if _, err := p.get(api, nil, &run); err != nil {
		return err
	}
	var log []byte
	if _, err := p.get(api+"/log", nil, &log); err != nil {
		return err
	}
	return p.admin("sysjob_run", j.Title, j.Path, obj{"job": j, "run": run, "params": paramsText(str(run["job_parameters"])),
		"log": string(log), "running": run["job_status"] == "Running" || run["job_status"] == "Pending"})
}

func (s *Server) purgeAudit(p *page) error { return p.jobPage(purgeJob) }
func (s *Server) savePurge(p *page) error  { return p.jobPost(purgeJob) }
func (s *Server) purgeJob(p *page) error   { return p.jobRun(purgeJob) }
func (s *Server) gcPage(p *page) error     { return p.jobPage(gcJob) }
func (s *Server) saveGC(p *page) error     { return p.jobPost(gcJob) }
func (s *Server) gcRun(p *page) error      { return p.jobRun(gcJob) }
func (s *Server) stopPurge(p *page) error  { return p.jobStop(purgeJob) }
func (s *Server) stopGC(p *page) error     { return p.jobStop(gcJob) }

// jobStop: POST of a run's stop button (a pending run stops at once, a
// running one at its next step).
func (p *page) jobStop(j sysJob) error {
	id, err := strconv.ParseInt(p.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return p.done(j.Path, "No such run.")
	}
	run := path.Join(j.Path, strconv.FormatInt(id, 10))
	if _, err := p.call(http.MethodPut, j.API+"/"+strconv.FormatInt(id, 10), nil, nil); err != nil {
		return p.back(run, err)
	}
	return p.done(run, "Stop requested.")
}

// quotas: GET /admin/quotas?sort=: every project's storage use and limit.
func (s *Server) quotas(p *page) error {
	sortKey := pick(p.r.URL.Query().Get("sort"), "-used.storage", "used.storage", "-hard.storage", "hard.storage", "-creation_time")
	var l list
	h, err := p.get("/quotas", p.listQ("reference", "project", "sort", sortKey), &l)
	if err != nil {
		return err
	}
	rows := make([]obj, 0, len(l))
	for _, q := range l {
		hard, _ := q["hard"].(obj)
		used, _ := q["used"].(obj)
		ref, _ := q["ref"].(obj)
		u := &quota{Used: int64(num(used["storage"])), Hard: int64(num(hard["storage"]))}
		if u.Hard > 0 {
			u.Percent = int(min(100, u.Used*100/u.Hard))
		}
		gib := ""
		if u.Hard > 0 {
			gib = strconv.FormatFloat(float64(u.Hard)/(1<<30), 'f', -1, 64)
		}
		rows = append(rows, obj{"id": q["id"], "project": ref["name"], "quota": u, "gib": gib})
	}
	return p.admin("quotas", "Quotas", "/admin/quotas", obj{"quotas": rows, "sort": sortKey, "pager": p.pager(h, p.pageNum())})
}

// setQuota: POST /admin/quotas/{id} (limit in GiB; empty or -1:
// unlimited).
func (s *Server) setQuota(p *page) error {
	limit := int64(-1)
	if v := strings.TrimSpace(p.r.PostForm.Get("storage_gib")); v != "" && v != "-1" {
		g, err := strconv.ParseFloat(v, 64)
		if err != nil || g <= 0 {
			return p.back("/admin/quotas", &apiError{http.StatusBadRequest, p.T("Storage limit must be a number of GiB.")})
		}
		limit = int64(g * (1 << 30))
	}
	if _, err := p.call(http.MethodPut, "/quotas/"+url.PathEscape(p.r.PathValue("id")), obj{"hard": obj{"storage": limit}}, nil); err != nil {
		return p.back("/admin/quotas", err)
	}
	return p.done("/admin/quotas", "Quota updated.")
}
