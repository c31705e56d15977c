package ui

import (
	"net/http"
	"net/url"
	"strings"
)

// hubPath is the security hub's page: every finding the caller may see.
const hubPath = "/admin/vulnerabilities"

// hubFilters are the security hub's filters: the form field and the key
// of Harbor's q it sets on GET /security/vul. The project is a name
// here, turned into the project_id the API filters by.
var hubFilters = []struct{ Field, Key string }{
	{"cve", "cve_id"}, {"package", "package"}, {"severity", "severity"},
	{"project", "project_id"}, {"repository", "repository_name"}, {"base_image", "base_image"},
}

// maxFilterLen bounds a filter value (a CVE id, a package or repository
// name, a digest): longer is no match worth asking for.
const maxFilterLen = 256

// filterError is a filter the page refuses, in words for the user: the
// page says so and lists nothing.
type filterError string

func (e filterError) Error() string { return string(e) }

// hubRow is one finding as the page shows it.
type hubRow struct {
	CVE, Link, Severity, Score, Package, Version, Fixed string
	Repo, Digest                                        string
	Tags                                                []string
}

// vulnerabilities: GET /admin/vulnerabilities: Harbor's security hub
// list (GET /security/vul): every vulnerability of every artifact the
// caller may see, filtered, a page at a time. The API decides what is
// visible: system administrators see all projects, other users the
// projects whose repositories they may list; the administration tabs are
// shown to administrators only.
func (s *Server) vulnerabilities(p *page) error {
	qs := p.r.URL.Query()
	form := map[string]string{}
	var terms []string
	for _, f := range hubFilters {
		v := strings.TrimSpace(qs.Get(f.Field))
		if v == "" {
			continue
		}
		form[f.Field] = v
		if proj := strings.TrimSpace(qs.Get("project")); f.Field == "repository" && proj != "" && !strings.Contains(v, "/") {
			v = proj + "/" + v // a repository of the chosen project, by its short name
		}
		term, err := p.hubTerm(f.Field, v)
		if fe, ok := err.(filterError); ok {
			p.Error = string(fe)
			return p.showHub(form, nil, pager{})
		} else if err != nil {
			return err
		}
		terms = append(terms, f.Key+"="+term)
	}
	lq := p.listQ("with_tag", "true")
	if len(terms) > 0 {
		lq.Set("q", strings.Join(terms, ","))
	}
	var items list
	h, err := p.get("/security/vul", lq, &items)
	if err != nil {
		if ae, ok := err.(*apiError); ok && ae.Status == http.StatusServiceUnavailable {
			return p.showHub(form, obj{"off": true}, pager{})
		}
		return err
	}
	rows := make([]hubRow, 0, len(items))
	for _, it := range items {
		row := hubRow{CVE: str(it["cve_id"]), Severity: str(it["severity"]), Package: str(it["package"]),
			Version: str(it["version"]), Fixed: str(it["fixed_version"]), Repo: str(it["repository_name"]), Digest: str(it["digest"])}
		row.Score = score(it["cvss_v3_score"])
		if links, _ := it["links"].([]any); len(links) > 0 {
			if l := str(links[0]); strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://") {
				row.Link = l
			}
		}
		tags, _ := it["tags"].([]any)
		for _, t := range tags {
			row.Tags = append(row.Tags, str(t))
		}
		rows = append(rows, row)
	}
	return p.showHub(form, obj{"rows": rows}, p.pager(h, p.pageNum()))
}

func (p *page) showHub(form map[string]string, data obj, pg pager) error {
	if data == nil {
		data = obj{}
	}
	data["form"], data["severities"], data["pager"] = form, severities[:5], pg
	data["filtered"] = len(form) > 0
	return p.admin("vulnerabilities", "Security hub", hubPath, data)
}

// hubTerm is the q value of one filter. Values are quoted (a package
// name may hold the q language's characters); the project's name becomes
// its id and a base image given as repository:tag or repository@digest
// becomes its digest, both read through the API, so a project the
// caller may not see is "not found" like one that does not exist.
func (p *page) hubTerm(field, v string) (string, error) {
	if len(v) > maxFilterLen || strings.ContainsAny(v, "\"'") {
		return "", filterError(p.T("A filter is at most 256 characters, without quotes."))
	}
	switch field {
	case "severity":
		if !contains(severities, v) {
			return "", filterError(p.T("Choose a severity."))
		}
	case "project":
		var proj obj
		if _, err := p.get("/projects/"+url.PathEscape(v), nil, &proj); err != nil {
			if ae, ok := err.(*apiError); ok && ae.Status < 500 {
				return "", filterError(p.T("No such project."))
			}
			return "", err
		}
		v = idOf(proj["project_id"])
	case "base_image":
		d, err := p.baseImageDigest(v)
		if err != nil {
			return "", err
		}
		v = d
	}
	// The API unescapes a q holding '%' once more.
	return `"` + strings.ReplaceAll(v, "%", "%25") + `"`, nil
}

// baseImageDigest is the digest of a base image given as a digest, or as
// project/repository:tag or project/repository@digest (an artifact the
// caller may read).
func (p *page) baseImageDigest(v string) (string, error) {
	if strings.HasPrefix(v, "sha256:") || strings.HasPrefix(v, "sha512:") {
		return v, nil
	}
	repo, ref, ok := strings.Cut(v, "@")
	if !ok {
		i := strings.LastIndex(v, ":")
		if i < 0 || strings.Contains(v[i:], "/") {
			return "", filterError(p.T("A base image is a digest, or project/repository:tag or @digest."))
		}
		repo, ref = v[:i], v[i+1:]
	}
	proj, rest, ok := strings.Cut(repo, "/")
	if !ok || proj == "" || rest == "" || ref == "" {
		return "", filterError(p.T("A base image is a digest, or project/repository:tag or @digest."))
	}
	var art obj
	path := projectURL(proj) + "/repositories/" + esc(rest) + "/artifacts/" + url.PathEscape(ref)
	if _, err := p.get(path, nil, &art); err != nil {
		if ae, ok := err.(*apiError); ok && ae.Status < 500 {
			return "", filterError(p.T("No such base image."))
		}
		return "", err
	}
	return str(art["digest"]), nil
}
