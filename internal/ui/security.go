package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// securityKeys are the project metadata the Security tab sets (Harbor's
// names; values "true"/"false", severity one of severities).
var securityKeys = []string{"auto_scan", "auto_sbom_generation", "prevent_vul", "enable_content_trust_cosign", "enable_content_trust"}

// sbomFormats are the choices of berth's sbom_format, the default
// (CycloneDX) first: the format of generated SBOMs.
var sbomFormats = []obj{{"value": "cyclonedx", "label": "CycloneDX"}, {"value": "spdx", "label": "SPDX"}}

// security: GET /projects/{p}/security: scanning and pull policies (the
// project's metadata) and the keys signatures must verify against
// (berth's /projects/{p}/signing-keys).
func (s *Server) security(p *page) error {
	proj, ps, err := p.projectCtx()
	if err != nil {
		return err
	}
	var keys list
	if _, err := p.get(projectURL(p.r.PathValue("p"))+"/signing-keys", nil, &keys); err != nil {
		// Forbidden to this caller, or signature policies not running
		// (503): the policies are still shown, without keys.
		if ae, ok := err.(*apiError); !ok || ae.Status != http.StatusNotFound && ae.Status != http.StatusForbidden &&
			ae.Status != http.StatusServiceUnavailable {
			return err
		}
	}
	own, expires := allowlistForm(objOf(proj["cve_allowlist"]))
	md := objOf(proj["metadata"])
	reuse := isTrue(md["reuse_sys_cve_allowlist"])
	var system []string
	if reuse {
		// What applies is the system list, which every signed-in user may
		// read; without the scanner (503) there is none to show.
		var sys obj
		if _, err := p.get("/system/CVEAllowlist", nil, &sys); err == nil {
			system, _ = allowlistForm(sys)
		}
	}
	return p.show("security", p.r.PathValue("p"), "projects", obj{"project": proj, "perms": ps, "tab": "security",
		"keys": keys, "severities": severities[:4], "reuse": reuse, "own": own, "cves": strings.Join(own, "\n"),
		"expires": expires, "system": system, "sbomFormats": sbomFormats})
}

// saveProjectAllowlist: POST /projects/{p}/security/allowlist: whether
// the project uses the system CVE allowlist (Harbor's metadata
// reuse_sys_cve_allowlist) and its own list (Harbor's cve_allowlist: CVE
// ids and expiry), in one PUT /projects/{p}, which only those who may
// update the project pass.
func (s *Server) saveProjectAllowlist(p *page) error {
	name := p.r.PathValue("p")
	to := projectURL(name) + "/security"
	list, err := p.allowlistBody(p.r.PostForm)
	if err != nil {
		return p.back(to, err)
	}
	reuse := strconv.FormatBool(p.r.PostForm.Get("source") == "system")
	body := obj{"metadata": obj{"reuse_sys_cve_allowlist": reuse}, "cve_allowlist": list}
	if _, err := p.call(http.MethodPut, "/projects/"+url.PathEscape(name), body, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "CVE allowlist saved.")
}

// objOf is v as a JSON object (nil if it is not one).
func objOf(v any) obj { o, _ := v.(obj); return o }

func isTrue(v any) bool { return v == true || v == "true" }

// saveSecurity: POST /projects/{p}/security: the ticked policies on, the
// others off, the severity that blocks pulls, and the SBOM format.
func (s *Server) saveSecurity(p *page) error {
	name := p.r.PathValue("p")
	to := projectURL(name) + "/security"
	md := obj{}
	for _, k := range securityKeys {
		md[k] = strconv.FormatBool(p.r.PostForm.Get(k) == "on")
	}
	sev := p.r.PostForm.Get("severity")
	if !contains(severities, sev) {
		return p.done(to, "Choose a severity.")
	}
	md["severity"] = strings.ToLower(sev)
	switch f := p.r.PostForm.Get("sbom_format"); f {
	case "": // a form without the choice keeps the project's
	case "cyclonedx", "spdx":
		md["sbom_format"] = f
	default:
		return p.done(to, "Choose an SBOM format.")
	}
	if _, err := p.call(http.MethodPut, "/projects/"+url.PathEscape(name), obj{"metadata": md}, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Project updated.")
}

// addSigningKey: POST /projects/{p}/security/keys: a cosign public key or
// a notation root certificate (PEM) the project trusts.
func (s *Server) addSigningKey(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/security"
	f := p.r.PostForm
	body := obj{"name": strings.TrimSpace(f.Get("name")), "type": f.Get("type")}
	if f.Get("type") == "notation" {
		body["certificate"] = f.Get("pem")
	} else {
		body["public_key"] = f.Get("pem")
	}
	if _, err := p.call(http.MethodPost, projectURL(p.r.PathValue("p"))+"/signing-keys", body, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Signing key added.")
}

// deleteSigningKey: POST /projects/{p}/security/keys/{id}/delete.
func (s *Server) deleteSigningKey(p *page) error {
	to := projectURL(p.r.PathValue("p")) + "/security"
	api := projectURL(p.r.PathValue("p")) + "/signing-keys/" + url.PathEscape(p.r.PathValue("id"))
	if _, err := p.call(http.MethodDelete, api, nil, nil); err != nil {
		return p.back(to, err)
	}
	return p.done(to, "Signing key deleted.")
}
