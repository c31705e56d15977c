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

// listAuditLogs: GET /audit-logs (system administrators).
func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	aq, err := auditQuery(r)
	if err != nil {
		return err
	}
	return s.writeAudit(w, r, aq)
}

// listProjectLogs: GET /projects/{project_name}/logs (ReadLogs).
func (s *Server) listProjectLogs(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name", rbac.ReadLogs)
	if err != nil {
		return err
	}
	aq, err := auditQuery(r)
	if err != nil {
		return err
	}
	aq.ProjectID = p.ID // not a deleted namesake's records
	return s.writeAudit(w, r, aq)
}

// generalInfo is Harbor's GeneralInfo.
type generalInfo struct {
	HarborVersion              string `json:"harbor_version"`
	AuthMode                   string `json:"auth_mode"`
	RegistryURL                string `json:"registry_url"`
	ExternalURL                string `json:"external_url"`
	ProjectCreationRestriction string `json:"project_creation_restriction"`
	SelfRegistration           bool   `json:"self_registration"`
	HasCARoot                  bool   `json:"has_ca_root"`
	ReadOnly                   bool   `json:"read_only"`
	WithNotary                 bool   `json:"with_notary"`
	WithChartmuseum            bool   `json:"with_chartmuseum"`
	NotificationEnable         bool   `json:"notification_enable"`
}

// systemInfo: GET /systeminfo.
func (s *Server) systemInfo(w http.ResponseWriter, r *http.Request) error {
	base := forwarded.BaseURL(r, s.opt.ExternalURL)
	_, host, _ := strings.Cut(base, "://")
	info := generalInfo{HarborVersion: "berth " + s.opt.Version, AuthMode: "db_auth", RegistryURL: host,
		ExternalURL: base, ProjectCreationRestriction: "everyone"}
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		info.HarborVersion = "" // as Harbor: the version only for signed-in callers
	}
	return writeJSON(w, http.StatusOK, info)
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
