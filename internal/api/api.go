// Package api serves the management API under /api/v2.0 in Harbor's paths
// and JSON shapes (a subset of Harbor's api/v2.0/swagger.yaml): projects,
// members, repositories, artifacts, tags, users, robot accounts, audit
// logs, system information and health, plus the /c/login session for a
// web UI. Every decision goes through rbac.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/identity/oidc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/sign"
	"github.com/berth-registry/berth/internal/webhook"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v2.0"

// Options configures the API server.
type Options struct {
	Access  meta.AccessStore
	Store   meta.Store
	Catalog meta.Catalog
	Auth    *auth.Authenticator
	// Audit receives records of changes made through the API.
	Audit func(meta.AuditRecord)
	// SessionKey signs session cookies and CSRF tokens (at least 32 bytes).
	SessionKey []byte
	// SessionTTL is how long a login session lasts (default 12h).
	SessionTTL time.Duration
	Version    string
	// ExternalURL is how clients reach berth (--external-url): reported by
	// /systeminfo and accepted as the Origin of the login form. Empty:
	// derived from each request (see forwarded.BaseURL).
	ExternalURL string
	Logger      *slog.Logger
	// DeletesDisabled refuses deletes of repositories, artifacts and tags,
	// as --delete-enabled=false does on /v2.
	DeletesDisabled bool
	// Blobs holds the bytes of the blobs the store records: the API reads
	// image and chart configs and chart archives from it (nil: artifacts
	// are described without them, and their additions are not found).
	Blobs blob.Store
	// System is the deployment the system resources report on, and the
	// run-time settings (see SystemOptions).
	System SystemOptions
	// Jobs is the background job queue (executions, schedules, logs) of
	// GC, audit purge and retention; nil: their operations answer 503.
	Jobs *jobs.Queue
	// LDAP is the directory of auth_mode ldap_auth (/ldap operations, LDAP
	// user groups); nil: those operations answer 400.
	LDAP *ldap.Service
	// Events, if set, is told of artifacts and tags created and deleted
	// through the API (webhooks, replication triggers).
	Events *events.Bus
	// Signing keeps the projects' signing keys and enforces their
	// signature policies; nil: the signing-keys operations answer 503.
	Signing *sign.Checker
	// Proxy, if set, backs proxy-cache projects (POST /projects with
	// registry_id); nil: they are refused.
	Proxy ProxyCache
	// Registries are the remote registries of replication and proxy
	// caches; nil: their operations answer 503.
	Registries *replication.Registries
	// Webhooks is the webhook service (policies, deliveries); nil: the
	// webhook operations answer 503.
	Webhooks *webhook.Service
	// Scan is the built-in scanner (nil: the scan operations answer 503,
	// and artifacts have no scan overview).
	Scan *scan.Scanner
	// Replication runs replication policies; nil: their operations
	// answer 503.
	Replication *replication.Engine
}

// checkDelete refuses a delete when deletes are switched off.
func (s *Server) checkDelete() error {
	if s.opt.DeletesDisabled {
		return &Error{Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED", Message: "deletes are disabled on this registry"}
	}
	return nil
}

// Server is the management API handler.
type Server struct {
	opt        Options
	mux        *http.ServeMux
	oidcClient *oidc.Client // the OIDC sign-in (oidc.go)
}

// handlerFunc is an API handler: it writes a response or returns an error
// that the adapter turns into Harbor's error JSON.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one operation; the OpenAPI document lists exactly these.
type route struct {
	method, path string // path relative to Prefix, Harbor's parameter names
	h            handlerFunc
}

// New returns the API server.
func New(opt Options) *Server {
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 12 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Audit == nil {
		opt.Audit = func(meta.AuditRecord) {}
	}
	s := &Server{opt: opt, mux: http.NewServeMux()}
	s.oidcClient = s.newOIDCClient()
	for _, rt := range s.routes() {
		pattern := rt.method + " " + Prefix + rt.path
		if strings.HasSuffix(pattern, "/") { // Harbor's ".../metadatas/": that path, not a subtree
			pattern += "{$}"
		}
		s.mux.Handle(pattern, s.adapt(rt.h))
	}
	s.mux.Handle("POST /c/login", s.plain(s.login))
	s.mux.Handle("GET /c/logout", s.plain(s.logout))
	s.mux.Handle("GET "+OIDCLoginPath, s.plain(s.oidcLogin))
	s.mux.Handle("GET "+OIDCCallbackPath, s.plain(s.oidcCallback))
	s.mux.Handle("POST "+OIDCOnboardPath, s.plain(s.oidcOnboard))
	return s
}

// routes is every operation: the core resources here, each later
// capability's in its own file (routes_*.go), so adding one touches no
// other's list.
func (s *Server) routes() []route {
	return slices.Concat(s.coreRoutes(), s.projectExtraRoutes(), s.artifactExtraRoutes(), s.labelRoutes(),
		s.userExtraRoutes(), s.systemExtraRoutes(), s.immutableRoutes(), s.purgeAuditRoutes(), s.retentionRoutes(),
		s.identityRoutes(), s.oidcRoutes(), s.quotaRoutes(), s.gcRoutes(),
		s.registryRoutes(), s.webhookRoutes(), s.signingRoutes(), s.scanRoutes(), s.replicationRoutes())
}

func (s *Server) coreRoutes() []route {
	return []route{
		{"GET", "/projects", s.listProjects},
		{"HEAD", "/projects", s.headProject},
		{"POST", "/projects", s.createProject},
		{"GET", "/projects/{project_name_or_id}", s.getProject},
		{"PUT", "/projects/{project_name_or_id}", s.updateProject},
		{"DELETE", "/projects/{project_name_or_id}", s.deleteProject},
		{"GET", "/projects/{project_name_or_id}/members", s.listMembers},
		{"POST", "/projects/{project_name_or_id}/members", s.createMember},
		{"GET", "/projects/{project_name_or_id}/members/{mid}", s.getMember},
		{"PUT", "/projects/{project_name_or_id}/members/{mid}", s.updateMember},
		{"DELETE", "/projects/{project_name_or_id}/members/{mid}", s.deleteMember},
		{"GET", "/projects/{project_name}/repositories", s.listRepositories},
		{"GET", "/projects/{project_name}/repositories/{repository_name}", s.getRepository},
		{"DELETE", "/projects/{project_name}/repositories/{repository_name}", s.deleteRepository},
		{"GET", "/projects/{project_name}/repositories/{repository_name}/artifacts", s.listArtifacts},
		{"GET", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}", s.getArtifact},
		{"DELETE", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}", s.deleteArtifact},
		{"GET", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags", s.listTags},
		{"POST", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags", s.createTag},
		{"DELETE", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}", s.deleteTag},
		{"GET", "/projects/{project_name}/logs", s.listProjectLogs},
		{"GET", "/users", s.listUsers},
		{"POST", "/users", s.createUser},
		{"GET", "/users/current", s.currentUser},
		{"GET", "/users/{user_id}", s.getUser},
		{"PUT", "/users/{user_id}", s.updateUser},
		{"DELETE", "/users/{user_id}", s.deleteUser},
		{"PUT", "/users/{user_id}/password", s.changePassword},
		{"PUT", "/users/{user_id}/sysadmin", s.setSysAdmin},
		{"GET", "/robots", s.listRobots},
		{"POST", "/robots", s.createRobot},
		{"GET", "/robots/{robot_id}", s.getRobot},
		{"PUT", "/robots/{robot_id}", s.updateRobot},
		{"PATCH", "/robots/{robot_id}", s.refreshRobotSecret},
		{"DELETE", "/robots/{robot_id}", s.deleteRobot},
		{"GET", "/audit-logs", s.listAuditLogs},
		{"GET", "/systeminfo", s.systemInfo},
		{"GET", "/health", s.health},
		{"GET", "/openapi.json", s.openAPI},
	}
}

// ServeHTTP implements http.Handler. Unknown paths and methods get Harbor's
// error JSON rather than the mux's plain text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, r, s.opt.Logger, s.unmatched(r))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) unmatched(r *http.Request) error {
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" {
			return &Error{Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED", Message: r.Method + " is not allowed here"}
		}
	}
	return errNotFound("no such API endpoint: " + r.URL.Path)
}

// adapt authenticates the request, enforces CSRF on cookie-authenticated
// writes, runs h and writes its error, if any.
func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := s.authenticate(w, r)
		if err == nil {
			err = s.checkWritable(r)
		}
		if err == nil {
			err = h(w, r.WithContext(ctx))
		}
		if err != nil {
			writeError(w, r, s.opt.Logger, err)
		}
	})
}

// plain runs h without authentication (the login endpoints).
func (s *Server) plain(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.opt.Logger, err)
		}
	})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// MaxJSONBody is the largest JSON request body the API reads.
const MaxJSONBody = 1 << 20

// readJSON decodes a request body of at most MaxJSONBody into v.
func readJSON(r *http.Request, v any) error {
	if r.ContentLength > MaxJSONBody {
		return errTooLarge(MaxJSONBody)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxJSONBody))
	if err := dec.Decode(v); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return errTooLarge(MaxJSONBody)
		}
		return errBadRequest("invalid JSON body: " + err.Error())
	}
	return nil
}

// created answers 201 with Location, as Harbor does.
func created(w http.ResponseWriter, location string) error {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusCreated)
	return nil
}

func ok(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

// record sends an audit record for a change made by the caller, in
// project p (nil: none). The record holds the project's id, so it shows in
// this project's log and not in that of a later project of the same name.
func (s *Server) record(ctx context.Context, r *http.Request, operation, resourceType, resource string, p *meta.Project) {
	rec := meta.AuditRecord{
		Username: auth.FromContext(ctx).Name, Remote: r.RemoteAddr, Operation: operation,
		ResourceType: resourceType, Resource: resource, Success: true,
	}
	if p != nil {
		rec.ProjectID, rec.Project = p.ID, p.Name
	}
	s.opt.Audit(rec)
}

// isNotFound reports any of the stores' not-found errors.
func isNotFound(err error) bool {
	return errors.Is(err, meta.ErrNotFound) || errors.Is(err, meta.ErrRepoNotFound) ||
		errors.Is(err, meta.ErrManifestNotFound) || errors.Is(err, meta.ErrTagNotFound)
}

// publish tells the event bus of e, with the caller and project filled in.
func (s *Server) publish(r *http.Request, e events.Event) {
	if !s.opt.Events.Wants(e.Type) {
		return
	}
	e.Operator = auth.FromContext(r.Context()).Name
	e.Project = events.ProjectOf(e.Repo)
	s.opt.Events.Publish(r.Context(), e)
}
