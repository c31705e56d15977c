package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// repoPath is what follows /projects/{p}/repositories/: a repository
// name (which may contain '/'), then optionally /artifacts/{digest} and
// an action. A digest has a ':' and a repository name cannot, so the
// split is unambiguous.
type repoPath struct {
	Repo   string // without the project
	Digest string
	Action string // the rest after the digest ("", "delete", "tags", "tags/x/delete")
}

func parseRepoPath(rest string) repoPath {
	for i := 0; ; {
		j := strings.Index(rest[i:], "/artifacts/")
		if j < 0 {
			break
		}
		j += i
		tail := rest[j+len("/artifacts/"):]
		d, action, _ := strings.Cut(tail, "/")
		if strings.Contains(d, ":") {
			return repoPath{Repo: rest[:j], Digest: d, Action: action}
		}
		i = j + 1
	}
	if r, ok := strings.CutSuffix(rest, "/-/delete"); ok {
		return repoPath{Repo: r, Action: "delete"}
	}
	return repoPath{Repo: rest}
}

// repoURL is the page of a repository given its full name
// ("project/name…").
func repoURL(full string) string {
	proj, rest, _ := strings.Cut(full, "/")
	return projectURL(proj) + "/repositories/" + rest
}

// artifactURL is the page of repo@digest (repo: full name).
func artifactURL(full, digest string) string { return repoURL(full) + "/artifacts/" + digest }

func (p *page) repoAPI(rp repoPath) string {
	return projectURL(p.r.PathValue("p")) + "/repositories/" + esc(rp.Repo)
}

// repoGet: GET of a repository or artifact page.
func (s *Server) repoGet(p *page) error {
	rp := parseRepoPath(p.r.PathValue("rest"))
	if rp.Action != "" {
		return &apiError{http.StatusNotFound, "no such page"}
	}
	if rp.Digest != "" {
		return s.artifact(p, rp)
	}
	return s.repository(p, rp)
}

// repository: its artifacts, newest first, with tags, platforms of
// indexes and accessories; 15 a page, filtered by tag in the database.
func (s *Server) repository(p *page, rp repoPath) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	tag := strings.TrimSpace(p.r.URL.Query().Get("tag"))
	// The listing's default order is newest first (push time, then digest).
	lq := p.listQ("with_tag", "true", "with_label", "true", "with_accessory", "true", "with_scan_overview", "true")
	if tag != "" && !strings.ContainsAny(tag, ",{}()") { // characters of the q language: never in a tag
		lq.Set("q", "tags=~"+tag)
	}
	var arts list
	h, err := p.get(p.repoAPI(rp)+"/artifacts", lq, &arts)
	if err != nil {
		return err
	}
	// The listing's total is the artifact count: no second count of a
	// large repository (the API's listing checks the repository exists).
	full := p.r.PathValue("p") + "/" + rp.Repo
	pg := p.pager(h, p.pageNum())
	return p.show("repository", full, "projects", obj{"project": proj, "perms": ps, "full": full,
		"artifacts": arts, "tag": tag, "pager": pg, "total": pg.Total})
}

// layer is one row of the artifact page's layer table.
type layer struct {
	MediaType, Digest string
	Size              int64
}

// artifact: one artifact's tags, pull commands, layers, build history,
// labels, annotations and accessories.
func (s *Server) artifact(p *page, rp repoPath) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	var a obj
	q := url.Values{"with_tag": {"true"}, "with_label": {"true"}, "with_accessory": {"true"}, "with_immutable_status": {"true"},
		"with_scan_overview": {"true"}}
	if _, err := p.get(p.repoAPI(rp)+"/artifacts/"+url.PathEscape(rp.Digest), q, &a); err != nil {
		return err
	}
	vulns, err := p.vulnerabilities(rp, a)
	if err != nil {
		return err
	}
	full := p.r.PathValue("p") + "/" + rp.Repo
	var history list
	if links, _ := a["addition_links"].(obj); links != nil && links["build_history"] != nil {
		if _, err := p.get(p.repoAPI(rp)+"/artifacts/"+url.PathEscape(rp.Digest)+"/additions/build_history", nil, &history); err != nil {
			// A config whose bytes are not (or no longer) stored has no
			// history to show; the rest of the page still is.
			if ae, ok := err.(*apiError); !ok || ae.Status != http.StatusNotFound && ae.Status != http.StatusUnprocessableEntity {
				return err
			}
		}
	}
	var layers []layer
	var config *layer
	if s.opt.Manifest != nil {
		// Read only now that the API has authorized the artifact.
		body, err := s.opt.Manifest(p.r.Context(), full, rp.Digest)
		if err != nil {
			return err
		}
		var m struct {
			Config *layer  `json:"config"`
			Layers []layer `json:"layers"`
		}
		if json.Unmarshal(body, &m) == nil {
			layers, config = m.Layers, m.Config
		}
	}
	// The labels that may be added: the project's and the global ones
	// (the first 100 of each, by name).
	var labels list
	if ps.Can("artifact-label", "create") {
		for _, q := range []url.Values{{"scope": {"p"}, "project_id": {idOf(proj["project_id"])}}, {"scope": {"g"}}} {
			q.Set("page_size", "100")
			var l list
			if _, err := p.get("/labels", q, &l); err != nil {
				return err
			}
			labels = append(labels, l...)
		}
	}
	return p.show("artifact", full+"@"+short(rp.Digest), "projects", obj{"project": proj, "perms": ps, "a": a, "full": full,
		"digest": rp.Digest, "history": history, "layers": layers, "config": config, "pulls": p.pullCommands(full, a),
		"labels": labels, "vulns": vulns, "severity": p.r.URL.Query().Get("severity"), "severities": severities})
}

// severities are Harbor's vulnerability severities, worst first.
var severities = []string{"Critical", "High", "Medium", "Low", "Unknown", "None"}

// maxVulnRows bounds the vulnerability table (the API's report is whole).
const maxVulnRows = 500

// vulnerabilities is the artifact's vulnerability report (Harbor's
// vulnerabilities addition) when a scan succeeded: worst first, then by
// id, filtered by ?severity=, at most maxVulnRows rows; nil otherwise.
func (p *page) vulnerabilities(rp repoPath, a obj) (obj, error) {
	if ov := scanOf(a["scan_overview"]); ov == nil || str(ov["scan_status"]) != "Success" {
		return nil, nil
	}
	var report obj
	if _, err := p.get(p.repoAPI(rp)+"/artifacts/"+url.PathEscape(rp.Digest)+"/additions/vulnerabilities", nil, &report); err != nil {
		if ae, ok := err.(*apiError); ok && ae.Status == http.StatusNotFound {
			return nil, nil
		}
		return nil, err
	}
	r := scanOf(report)
	if r == nil {
		return nil, nil
	}
	rank := func(v any) int {
		for i, s := range severities {
			if s == str(v) {
				return i
			}
		}
		return len(severities)
	}
	want := p.r.URL.Query().Get("severity")
	var rows []obj
	all, _ := r["vulnerabilities"].([]any)
	for _, v := range all {
		if v, ok := v.(obj); ok && (want == "" || str(v["severity"]) == want) {
			rows = append(rows, v)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if a, b := rank(rows[i]["severity"]), rank(rows[j]["severity"]); a != b {
			return a < b
		}
		return str(rows[i]["id"]) < str(rows[j]["id"])
	})
	shown := rows
	if len(shown) > maxVulnRows {
		shown = shown[:maxVulnRows]
	}
	return obj{"rows": shown, "total": len(all), "matching": len(rows), "severity": r["severity"],
		"scanner": r["scanner"], "generated_at": r["generated_at"]}, nil
}

// pullCommand is one way to fetch an artifact.
type pullCommand struct{ Tool, Command string }

// pullCommands are the commands for an artifact's type: docker for
// images, helm for charts, oras for any other artifact (and images too).
func (p *page) pullCommands(full string, a obj) []pullCommand {
	host := p.Host()
	ref := full + "@" + str(a["digest"])
	var tag string
	if tags, _ := a["tags"].([]any); len(tags) > 0 {
		if t, _ := tags[0].(obj); t != nil {
			tag = str(t["name"])
			ref = full + ":" + tag
		}
	}
	var out []pullCommand
	switch str(a["type"]) {
	case "IMAGE":
		out = append(out, pullCommand{"docker", "docker pull " + host + "/" + ref}, pullCommand{"podman", "podman pull " + host + "/" + ref})
	case "CHART":
		if tag != "" {
			out = append(out, pullCommand{"helm", "helm pull oci://" + host + "/" + full + " --version " + tag})
		}
	}
	return append(out, pullCommand{"oras", "oras pull " + host + "/" + ref})
}

// repoPost: the forms of the repository and artifact pages.
func (s *Server) repoPost(p *page) error {
	rp := parseRepoPath(p.r.PathValue("rest"))
	full := p.r.PathValue("p") + "/" + rp.Repo
	f := p.r.PostForm
	art := p.repoAPI(rp) + "/artifacts/" + url.PathEscape(rp.Digest)
	switch {
	case rp.Digest == "" && rp.Action == "delete":
		if f.Get("confirm") != "on" {
			return p.done(repoURL(full), "Tick the box to confirm.")
		}
		if _, err := p.call(http.MethodDelete, p.repoAPI(rp), nil, nil); err != nil {
			return p.back(repoURL(full), err)
		}
		return p.done(projectURL(p.r.PathValue("p")), "Repository deleted.")
	case rp.Digest == "":
	case rp.Action == "scan":
		to := artifactURL(full, rp.Digest)
		var body any
		if f.Get("scan_type") == "sbom" {
			body = obj{"scan_type": "sbom"}
		}
		if _, err := p.call(http.MethodPost, art+"/scan", body, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Scan requested.")
	case rp.Action == "tags":
		to := artifactURL(full, rp.Digest)
		if _, err := p.call(http.MethodPost, art+"/tags", obj{"name": strings.TrimSpace(f.Get("tag"))}, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Tag added.")
	case strings.HasPrefix(rp.Action, "tags/") && strings.HasSuffix(rp.Action, "/delete"):
		to := artifactURL(full, rp.Digest)
		if f.Get("back") == "repo" {
			to = repoURL(full)
		}
		tag := strings.TrimSuffix(strings.TrimPrefix(rp.Action, "tags/"), "/delete")
		if _, err := p.call(http.MethodDelete, art+"/tags/"+url.PathEscape(tag), nil, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Tag deleted.")
	case rp.Action == "labels":
		to := artifactURL(full, rp.Digest)
		id, err := strconv.ParseInt(f.Get("label"), 10, 64)
		if err != nil {
			return p.done(to, "Choose a label.")
		}
		if _, err := p.call(http.MethodPost, art+"/labels", obj{"id": id}, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Label added.")
	case strings.HasPrefix(rp.Action, "labels/") && strings.HasSuffix(rp.Action, "/delete"):
		to := artifactURL(full, rp.Digest)
		id := strings.TrimSuffix(strings.TrimPrefix(rp.Action, "labels/"), "/delete")
		if _, err := p.call(http.MethodDelete, art+"/labels/"+url.PathEscape(id), nil, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Label removed.")
	case rp.Action == "delete":
		to := artifactURL(full, rp.Digest)
		if f.Get("confirm") != "on" {
			return p.done(to, "Tick the box to confirm.")
		}
		if _, err := p.call(http.MethodDelete, art, nil, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(repoURL(full), "Artifact deleted.")
	}
	return &apiError{http.StatusNotFound, "no such form"}
}

// short is a digest's first 12 hex digits.
func short(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}

func str(v any) string { s, _ := v.(string); return s }
