// Package ui serves berth's web pages: server-rendered html/template pages
// with embedded assets and small hand-written scripts that only enhance
// (every page works and is linkable without JavaScript).
//
// Pages read and change nothing themselves: each one calls the management
// API in process (Options.API, the /api/v2.0 handler) with the browser's
// session cookie, so what a page shows and allows is exactly what the API
// authorizes, through the same rbac checks and the same paged store
// queries. Writes carry the CSRF token of the session, which the API
// checks.
package ui

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the UI.
type Options struct {
	// API is the management API handler (/api/v2.0 and /c/).
	API http.Handler
	// ExternalURL is how clients reach berth (--external-url); its host is
	// used in pull commands. Empty: the request's host.
	ExternalURL string
	Version     string
	Logger      *slog.Logger
	// Manifest returns the stored manifest body of repo@digest, for the
	// artifact page's layers. It is called only after the API has
	// authorized reading that artifact. Nil: no layer table.
	Manifest func(ctx context.Context, repo, digest string) ([]byte, error)
}

// Server is the UI handler.
type Server struct {
	opt   Options
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// pageSize is the rows of every list page.
const pageSize = 15

// New builds the UI.
func New(opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Server{opt: opt, mux: http.NewServeMux(), pages: parsePages()}
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/projects", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /lang/{code}", s.setLang)
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.adapt(rt.h))
	}
	return s
}

type route struct {
	pattern string
	h       func(*page) error
}

func (s *Server) routes() []route {
	return []route{
		{"GET /login", s.loginPage}, {"POST /login", s.login}, {"POST /logout", s.logout},
		{"GET " + onboardPagePath, s.onboardPage}, {"POST " + onboardPagePath, s.onboard},
		{"GET /profile", s.profile}, {"POST /profile/cli_secret", s.cliSecret},
		{"GET /search", s.search},
		{"GET /projects", s.projects}, {"POST /projects", s.createProject},
		{"GET /projects/{p}", s.project}, {"POST /projects/{p}/delete", s.deleteProject},
		{"POST /projects/{p}/visibility", s.setVisibility},
		{"GET /projects/{p}/members", s.members}, {"POST /projects/{p}/members", s.addMember},
		{"POST /projects/{p}/members/{id}", s.changeMember},
		{"GET /projects/{p}/robots", s.robots}, {"POST /projects/{p}/robots", s.createRobot},
		{"POST /projects/{p}/robots/{id}/delete", s.deleteRobot},
		{"GET /projects/{p}/labels", s.labels}, {"POST /projects/{p}/labels", s.createLabel},
		{"POST /projects/{p}/labels/{id}/delete", s.deleteLabel},
		{"GET /projects/{p}/logs", s.logs},
		{"GET /projects/{p}/immutability", s.immutability}, {"POST /projects/{p}/immutability", s.createImmutable},
		{"POST /projects/{p}/immutability/{id}/delete", s.deleteImmutable},
		{"GET /projects/{p}/repositories/{rest...}", s.repoGet}, {"POST /projects/{p}/repositories/{rest...}", s.repoPost},
		{"GET /admin/users", s.users}, {"POST /admin/users", s.createUser}, {"POST /admin/users/{id}", s.changeUser},
		{"GET /admin/robots", s.systemRobots}, {"POST /admin/robots", s.createSystemRobot},
		{"POST /admin/robots/{id}/delete", s.deleteSystemRobot},
		{"GET /admin/audit", s.audit},
		{"GET /admin/configuration", s.configuration}, {"POST /admin/configuration", s.saveConfiguration},
		{"GET /admin/system", s.system},
		{"GET /projects/{p}/policies", s.policies}, {"POST /projects/{p}/policies/rules", s.saveRule},
		{"POST /projects/{p}/policies/rules/{i}/delete", s.deleteRule}, {"POST /projects/{p}/policies/schedule", s.retentionSchedule},
		{"POST /projects/{p}/policies/run", s.runRetention}, {"GET /projects/{p}/policies/runs/{eid}", s.retentionRun},
		{"GET /projects/{p}/policies/runs/{eid}/tasks/{tid}", s.retentionTask},
		{"GET /admin/quotas", s.quotas}, {"POST /admin/quotas/{id}", s.setQuota},
		{"GET /admin/purgeaudit", s.purgeAudit}, {"POST /admin/purgeaudit", s.savePurge},
		{"GET /admin/purgeaudit/{id}", s.purgeJob},
		{"GET /admin/gc", s.gcPage}, {"POST /admin/gc", s.saveGC}, {"GET /admin/gc/{id}", s.gcRun},
		{"POST /projects/{p}/policies/runs/{eid}/stop", s.stopRetention},
		{"POST /admin/purgeaudit/{id}/stop", s.stopPurge}, {"POST /admin/gc/{id}/stop", s.stopGC},
		{"GET /projects/{p}/webhooks", s.webhooks}, {"POST /projects/{p}/webhooks", s.createWebhook},
		{"POST /projects/{p}/webhooks/{id}", s.changeWebhook},
		{"GET /projects/{p}/security", s.security}, {"POST /projects/{p}/security", s.saveSecurity},
		{"POST /projects/{p}/security/keys", s.addSigningKey}, {"POST /projects/{p}/security/keys/{id}/delete", s.deleteSigningKey},
		{"GET /admin/scanning", s.scanning}, {"POST /admin/scanning", s.saveScanning},
		{"GET " + hubPath, s.vulnerabilities}, {"POST /projects/{p}/security/allowlist", s.saveProjectAllowlist},
		{"GET /admin/registries", s.registries}, {"POST /admin/registries", s.createRegistry},
		{"POST /admin/registries/{id}", s.changeRegistry},
		{"GET /admin/replication", s.replication}, {"POST /admin/replication", s.createReplication},
		{"POST /admin/replication/{id}", s.changeReplication},
	}
}

// ServeHTTP implements http.Handler, with the security headers of every
// answer: a CSP without inline scripts or styles, no framing, no sniffing.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// page is one request being answered: what the templates see.
type page struct {
	s *Server
	w http.ResponseWriter
	r *http.Request

	Lang  string
	User  obj    // the signed-in user (GET /users/current), nil if anonymous
	CSRF  string // the session's token, for forms
	Path  string // of this page, for the sign-in return and language links
	Title string
	Nav   string // the highlighted header section
	Flash string
	Error string
	Data  any

	postedCSRF string
	extra      http.Header // more browser headers for the next API call
}

// adapt loads the caller and language, runs h and renders its error.
func (s *Server) adapt(h func(*page) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &page{s: s, w: w, r: r, Lang: langOf(r), Path: r.URL.RequestURI()}
		if c, err := r.Cookie(flashCookie); err == nil {
			p.Flash, _ = url.QueryUnescape(c.Value)
			http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				p.fail(&apiError{http.StatusBadRequest, "invalid form"})
				return
			}
			p.postedCSRF = r.PostForm.Get("csrf")
		}
		if _, err := p.get("/users/current", nil, &p.User); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
				p.fail(err)
				return
			}
			p.User = nil
		}
		if err := h(p); err != nil {
			p.fail(err)
		}
	})
}

// fail renders an error page: a signed-out visitor asking for something
// private (or missing: the two answer alike) gets the sign-in form.
func (p *page) fail(err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		p.s.opt.Logger.Error("ui page failed", "path", p.r.URL.Path, "err", err)
		ae = &apiError{http.StatusInternalServerError, "internal server error"}
	}
	if p.User == nil && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusNotFound || ae.Status == http.StatusForbidden) {
		p.Error = p.T("Sign in to see this page.")
		p.Title = p.T("Sign in")
		p.Data = obj{"next": p.safeNext(p.Path)}
		p.render(http.StatusUnauthorized, "login")
		return
	}
	p.Title = p.T("Error")
	p.Error = ae.Message
	p.Data = obj{"status": ae.Status}
	p.render(ae.Status, "error")
}

// render writes page tmpl with status.
func (p *page) render(status int, tmpl string) {
	t := p.s.pages[tmpl]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		p.s.opt.Logger.Error("ui template failed", "template", tmpl, "err", err)
		http.Error(p.w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := p.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie, Accept-Language")
	p.w.WriteHeader(status)
	_, _ = p.w.Write([]byte(b.String()))
}

// show renders tmpl with data and title (a translation key).
func (p *page) show(tmpl, title, nav string, data any) error {
	p.Title, p.Nav, p.Data = p.T(title), nav, data
	p.render(http.StatusOK, tmpl)
	return nil
}

const flashCookie = "berth_flash"

// done ends a successful form post: the message (a translation key, or
// text) is shown once on the page it redirects to.
func (p *page) done(to, msg string) error {
	http.SetCookie(p.w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(p.T(msg)), Path: "/", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(p.w, p.r, to, http.StatusSeeOther)
	return nil
}

// safeNext keeps a return path on this site.
func (p *page) safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/projects"
	}
	return next
}

// Admin reports whether the signed-in user is a system administrator.
func (p *page) Admin() bool { return p.User != nil && p.User["sysadmin_flag"] == true }

// Host is the registry's host for pull commands.
func (p *page) Host() string {
	if u, err := url.Parse(p.s.opt.ExternalURL); err == nil && u.Host != "" {
		return u.Host
	}
	return p.r.Host
}

// Version is berth's version.
func (p *page) Version() string { return p.s.opt.Version }

// pageNum is the page query parameter (1 when absent or invalid).
func (p *page) pageNum() int {
	n, err := strconv.Atoi(p.r.URL.Query().Get("page"))
	if err != nil || n < 1 || n > 1_000_000 {
		return 1
	}
	return n
}

// pager is the paging of a list page: total from the API's X-Total-Count.
type pager struct {
	Page, Total int
	Prev, Next  string
	Label       string // of the pager's navigation landmark
}

func (p *page) pager(h http.Header, n int) pager {
	total, _ := strconv.Atoi(h.Get("X-Total-Count"))
	pg := pager{Page: n, Total: total, Label: p.T("Pages")}
	link := func(i int) string {
		q := p.r.URL.Query()
		q.Set("page", strconv.Itoa(i))
		return p.r.URL.Path + "?" + q.Encode()
	}
	if n > 1 {
		pg.Prev = link(n - 1)
	}
	if n*pageSize < total {
		pg.Next = link(n + 1)
	}
	return pg
}

// listQ is the API query of a list page: page, page_size and more.
func (p *page) listQ(kv ...string) url.Values {
	q := url.Values{"page": {strconv.Itoa(p.pageNum())}, "page_size": {strconv.Itoa(pageSize)}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}

// when formats an API time for people.
func when(v any) string {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() || t.Year() < 2000 {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
}
