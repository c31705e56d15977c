package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/forwarded"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// auditLog is Harbor's AuditLog, plus the client's address (a berth
// extension that Harbor's clients ignore), shown to system administrators.
type auditLog struct {
	ID           int64      `json:"id"`
	Username     string     `json:"username"`
	Resource     string     `json:"resource"`
	ResourceType string     `json:"resource_type"`
	Operation    string     `json:"operation"`
	OpTime       harborTime `json:"op_time"`
	ClientIP     string     `json:"client_ip,omitempty"`
}

// auditQuery reads q (operation, username, resource: exact; op_time:
// range) and paging.
func auditQuery(r *http.Request) (meta.AuditQuery, error) {
	lq, err := listQuery(r)
	return meta.AuditQuery{ListQuery: lq}, err
}

func (s *Server) writeAudit(w http.ResponseWriter, r *http.Request, aq meta.AuditQuery) error {
	list, total, err := s.opt.Access.ListAudit(r.Context(), aq)
	if err != nil {
		return err
	}
	admin := auth.FromContext(r.Context()).SysAdmin
	return writeList(w, r, aq.Page, total, list, func(rec *meta.AuditRecord) auditLog {
		op := rec.Operation
		if !rec.Success {
			op += "_failed"
		}
		l := auditLog{ID: rec.ID, Username: rec.Username, Resource: rec.Resource, ResourceType: rec.ResourceType,
			Operation: op, OpTime: harborTime(rec.At)}
		if admin {
			l.ClientIP = rec.Remote
		}
		return l
	})
}

// auditScope reads an audit listing's query, over the whole log (system
// administrators) or, with projectParam, over that project's records
// (ReadLogs), by id: not a deleted namesake's.
func (s *Server) auditScope(r *http.Request, projectParam string) (meta.AuditQuery, error) {
	var projectID int64
	if projectParam == "" {
		if err := requireAdmin(r); err != nil {
			return meta.AuditQuery{}, err
		}
	} else {
		p, err := s.projectFor(r, projectParam, rbac.ReadLogs)
		if err != nil {
			return meta.AuditQuery{}, err
		}
		projectID = p.ID
	}
	aq, err := auditQuery(r)
	aq.ProjectID = projectID
	return aq, err
}

// listAuditLogs: GET /audit-logs (system administrators).
func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request) error {
	aq, err := s.auditScope(r, "")
	if err != nil {
		return err
	}
	return s.writeAudit(w, r, aq)
}

// listProjectLogs: GET /projects/{project_name}/logs (ReadLogs).
func (s *Server) listProjectLogs(w http.ResponseWriter, r *http.Request) error {
	aq, err := s.auditScope(r, "project_name")
	if err != nil {
		return err
	}
	return s.writeAudit(w, r, aq)
}

// HarborAPIVersion is the Harbor release whose API berth emulates: signed-in
// callers see harbor_version "v2.15.0-berth.<berth version>", so clients
// that gate features on Harbor's version (harbor-cli, the Terraform
// provider) treat berth as that release.
const HarborAPIVersion = "v2.15.0"

// generalInfo is Harbor's GeneralInfo, every field of it. As Harbor,
// anonymous callers get only the first group; the rest (marked) are for
// signed-in callers.
type generalInfo struct {
	AuthMode         *string `json:"auth_mode,omitempty"`
	PrimaryAuthMode  *bool   `json:"primary_auth_mode,omitempty"`
	SelfRegistration *bool   `json:"self_registration,omitempty"`
	BannerMessage    *string `json:"banner_message,omitempty"`
	// OIDCProviderName is oidc_name in oidc_auth, else "" (Harbor's
	// UI shows its sign-in button by it). Harbor's authproxy_settings,
	// sent in its http_auth mode only, is never sent.
	OIDCProviderName *string `json:"oidc_provider_name,omitempty"`

	// Signed-in callers only.
	CurrentTime                 *harborTime `json:"current_time,omitempty"`
	HarborVersion               *string     `json:"harbor_version,omitempty"`
	RegistryURL                 *string     `json:"registry_url,omitempty"`
	ExternalURL                 *string     `json:"external_url,omitempty"`
	ProjectCreationRestriction  *string     `json:"project_creation_restriction,omitempty"`
	HasCARoot                   *bool       `json:"has_ca_root,omitempty"`
	ReadOnly                    *bool       `json:"read_only,omitempty"`
	RegistryStorageProviderName *string     `json:"registry_storage_provider_name,omitempty"`
	NotificationEnable          *bool       `json:"notification_enable,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// systemInfo: GET /systeminfo.
func (s *Server) systemInfo(w http.ResponseWriter, r *http.Request) error {
	set := s.opt.System.Settings.Get()
	info := generalInfo{AuthMode: ptr(s.currentAuthMode()), PrimaryAuthMode: ptr(false), SelfRegistration: ptr(false),
		BannerMessage: ptr(set.BannerMessage), OIDCProviderName: ptr(s.oidcProviderName())}
	if auth.FromContext(r.Context()).Kind != auth.Anonymous {
		base := forwarded.BaseURL(r, s.opt.ExternalURL)
		_, host, _ := strings.Cut(base, "://")
		ca, err := s.caCert()
		if err != nil {
			return err
		}
		now := harborTime(time.Now())
		info.CurrentTime, info.HarborVersion, info.RegistryURL, info.ExternalURL = &now, ptr(s.harborVersion()), &host, &base
		info.ProjectCreationRestriction, info.HasCARoot = ptr(set.ProjectCreationRestriction), ptr(ca != nil)
		info.ReadOnly, info.RegistryStorageProviderName = ptr(set.ReadOnly), ptr(s.storageProvider())
		info.NotificationEnable = ptr(s.opt.Webhooks != nil)
	}
	return writeJSON(w, http.StatusOK, info)
}

// harborVersion is the version signed-in callers see (HarborAPIVersion).
func (s *Server) harborVersion() string {
	return HarborAPIVersion + "-berth." + s.opt.Version
}

type componentHealth struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// health: GET /health (Harbor's OverallHealthStatus).
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	db := componentHealth{Name: "database", Status: "healthy"}
	if err := s.opt.Store.Ping(ctx); err != nil {
		db.Status, db.Error = "unhealthy", "the database does not answer"
		s.opt.Logger.Warn("health: database", "err", err)
	}
	return writeJSON(w, http.StatusOK, struct {
		Status     string            `json:"status"`
		Components []componentHealth `json:"components"`
	}{db.Status, []componentHealth{db}})
}
