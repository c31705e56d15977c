package ui

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// scanning: GET /admin/scanning: Harbor's "Interrogation Services" for
// system administrators: the scan-all schedule and its latest run, scan
// now and stop, the system CVE allowlist, and the security summary (the
// most dangerous CVEs and artifacts). Without the scanner (503) the page
// says so.
func (s *Server) scanning(p *page) error {
	var sched, metrics, allow, summary obj
	if _, err := p.get("/system/CVEAllowlist", nil, &allow); err != nil {
		if ae, ok := err.(*apiError); ok && ae.Status == http.StatusServiceUnavailable {
			return p.admin("scanning", "Vulnerability scanning", "/admin/scanning", obj{"off": true})
		}
		return err
	}
	if _, err := p.get("/system/scanAll/schedule", nil, &sched); err != nil {
		return err
	}
	if _, err := p.get("/scans/all/metrics", nil, &metrics); err != nil {
		metrics = nil // no run yet
	}
	q := url.Values{"with_dangerous_cve": {"true"}, "with_dangerous_artifact": {"true"}}
	if _, err := p.get("/security/summary", q, &summary); err != nil {
		return err
	}
	typ, cron := "None", ""
	if sc, _ := sched["schedule"].(obj); sc != nil {
		typ, cron = str(sc["type"]), str(sc["cron"])
	}
	cves, expires := allowlistForm(allow)
	return p.admin("scanning", "Vulnerability scanning", "/admin/scanning", obj{"type": typ, "cron": cron, "types": scheduleTypes,
		"metrics": metrics, "cves": strings.Join(cves, "\n"), "expires": expires, "summary": summary})
}

// allowlistForm is a Harbor CVEAllowlist as its form shows it: the CVE
// ids, and the expiry date ("" for never).
func allowlistForm(l obj) (cves []string, expires string) {
	items, _ := l["items"].([]any)
	for _, it := range items {
		if it, ok := it.(obj); ok {
			cves = append(cves, str(it["cve_id"]))
		}
	}
	if e, ok := l["expires_at"].(float64); ok && e > 0 {
		expires = time.Unix(int64(e), 0).UTC().Format("2006-01-02")
	}
	return cves, expires
}

// allowlistBody is the Harbor CVEAllowlist a form posts: CVE ids (one a
// line, or separated by commas or spaces) and an expiry date (YYYY-MM-DD,
// the start of that day in UTC; empty: never). The API checks the ids
// and bounds their number.
func (p *page) allowlistBody(f url.Values) (obj, error) {
	items := []obj{}
	for _, id := range strings.FieldsFunc(f.Get("cves"), func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' }) {
		items = append(items, obj{"cve_id": id})
	}
	body := obj{"items": items, "expires_at": nil}
	if v := strings.TrimSpace(f.Get("expires")); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return nil, &apiError{http.StatusBadRequest, p.T("The expiry date must be YYYY-MM-DD.")}
		}
		body["expires_at"] = t.Unix()
	}
	return body, nil
}

// saveScanning: POST /admin/scanning: action=schedule saves the scan-all
// schedule (None removes it), run scans everything now, stop stops the
// running scan-all, allowlist saves the system CVE allowlist (CVE ids,
// one a line or comma-separated; an expiry date or none).
func (s *Server) saveScanning(p *page) error {
	const to = "/admin/scanning"
	f := p.r.PostForm
	switch f.Get("action") {
	case "schedule":
		body := obj{"schedule": obj{"type": pick(f.Get("type"), scheduleTypes...), "cron": strings.TrimSpace(f.Get("cron"))}}
		if _, err := p.call(http.MethodPut, "/system/scanAll/schedule", body, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Schedule saved.")
	case "run":
		if _, err := p.call(http.MethodPost, "/system/scanAll/schedule", obj{"schedule": obj{"type": "Manual"}}, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Scan of all artifacts started.")
	case "stop":
		if _, err := p.call(http.MethodPost, "/system/scanAll/stop", nil, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Stop requested.")
	case "allowlist":
		body, err := p.allowlistBody(f)
		if err != nil {
			return p.back(to, err)
		}
		if _, err := p.call(http.MethodPut, "/system/CVEAllowlist", body, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "CVE allowlist saved.")
	}
	return &apiError{http.StatusBadRequest, "unknown action"}
}
