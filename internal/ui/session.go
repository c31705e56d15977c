package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// loginPage: GET /login.
func (s *Server) loginPage(p *page) error {
	if p.User != nil {
		http.Redirect(p.w, p.r, p.safeNext(p.r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return p.show("login", "Sign in", "", obj{"next": p.safeNext(p.r.URL.Query().Get("next"))})
}

// login: POST /login posts the form to the API's /c/login (which checks
// the credentials, the lock-out and the form's origin, and opens the
// session) and hands its cookies to the browser.
func (s *Server) login(p *page) error {
	next := p.safeNext(p.r.PostForm.Get("next"))
	form := url.Values{"principal": {p.r.PostForm.Get("principal")}, "password": {p.r.PostForm.Get("password")}}
	// The API refuses a cross-site login (login CSRF): it sees the
	// browser's own Origin and Sec-Fetch-Site.
	h, err := p.sendWith("/c/login", form, "Origin", "Sec-Fetch-Site")
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
			p.Error = p.T("Invalid user name or password.")
			if ae.Status == http.StatusForbidden {
				p.Error = ae.Message
			}
			p.Title, p.Data = p.T("Sign in"), obj{"next": next}
			p.render(http.StatusUnauthorized, "login")
			return nil
		}
		return err
	}
	for _, c := range h.Values("Set-Cookie") {
		p.w.Header().Add("Set-Cookie", c)
	}
	http.Redirect(p.w, p.r, next, http.StatusSeeOther)
	return nil
}

// sendWith posts form to an API path with some of the browser's headers.
func (p *page) sendWith(path string, form url.Values, headers ...string) (http.Header, error) {
	extra := http.Header{}
	for _, h := range headers {
		if v := p.r.Header.Get(h); v != "" {
			extra.Set(h, v)
		}
	}
	p.extra = extra
	defer func() { p.extra = nil }()
	return p.send(http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", nil)
}

// logout: POST /logout ends the session through the API's /c/logout,
// after checking the form's CSRF token (a cross-site page cannot sign a
// user out).
func (s *Server) logout(p *page) error {
	if p.User != nil && p.postedCSRF != p.CSRF {
		return &apiError{http.StatusForbidden, p.T("The form expired: reload the page and try again.")}
	}
	h, err := p.send(http.MethodGet, "/c/logout", nil, "", nil)
	if err != nil {
		return err
	}
	for _, c := range h.Values("Set-Cookie") {
		p.w.Header().Add("Set-Cookie", c)
	}
	http.Redirect(p.w, p.r, "/projects", http.StatusSeeOther)
	return nil
}

// search: GET /search?q= across the projects and repositories the caller
// may see (the API's /search). With format=json it answers the names for
// the header's search-as-you-type.
func (s *Server) search(p *page) error {
	q := strings.TrimSpace(p.r.URL.Query().Get("q"))
	var res obj
	if q != "" {
		if _, err := p.get("/search", url.Values{"q": {q}}, &res); err != nil {
			return err
		}
	}
	return p.show("search", "Search", "", obj{"q": q, "result": res})
}
