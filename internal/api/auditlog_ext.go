package api

import (
	"net/http"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// auditLogExt is Harbor's AuditLogExt (Harbor 2.13+), plus the client's
// address (a berth extension, as on /audit-logs), shown to system
// administrators only. Harbor's AuditLogExt has no field for it.
type auditLogExt struct {
	ID                   int64      `json:"id"`
	Username             string     `json:"username"`
	Resource             string     `json:"resource"`
	ResourceType         string     `json:"resource_type"`
	Operation            string     `json:"operation"`
	OperationDescription string     `json:"operation_description"`
	OperationResult      bool       `json:"operation_result"`
	OpTime               harborTime `json:"op_time"`
	ClientIP             string     `json:"client_ip,omitempty"`
}

// auditEventTypes are the event types ("<operation>_<resource_type>")
// berth records: the operations of listAuditLogEventTypes. Harbor names a
// push create_artifact; berth keeps the operation it records and shows
// on every audit list, push, so that a q=operation=… filter matches what
// is shown. TestAuditEventTypesRecorded keeps this list in step with the
// records the code writes.
var auditEventTypes = []string{
	"create_project", "update_project", "delete_project",
	"create_project_metadata", "update_project_metadata", "delete_project_metadata",
	"create_member", "update_member", "delete_member",
	"update_repository", "delete_repository",
	"create_label", "update_label", "delete_label", "create_artifact-label", "delete_artifact-label",
	"push_artifact", "pull_artifact", "delete_artifact", "delete_blob",
	"create_tag", "delete_tag",
	"login_user", "create_user", "update_user", "disable_user", "enable_user", "delete_user",
	"create_robot", "update_robot", "delete_robot",
	"update_configuration",
	"create_immutable_rule", "update_immutable_rule", "delete_immutable_rule",
	"create_purge_audit", "stop_purge_audit", "update_purge_audit_schedule", "delete_purge_audit_schedule",
	"create_retention_policy", "update_retention_policy", "delete_retention_policy",
	"create_retention_execution", "stop_retention_execution",
	"update_quota", "warning_quota", "exceed_quota",
	"update_cli_secret",
	"create_user_group", "update_user_group", "delete_user_group",
	"create_gc", "stop_gc", "update_gc_schedule", "delete_gc_schedule",
	"create_webhook_policy", "update_webhook_policy", "delete_webhook_policy",
	"create_signing_key", "delete_signing_key",
	"create_registry", "update_registry", "delete_registry",
	"scan_artifact", "stop_scan_artifact", "update_project_scanner", "update_system_cve_allowlist",
	"create_scan_all", "stop_scan_all", "update_scan_all_schedule", "delete_scan_all_schedule",
	"import_vulnerability_database", "refuse_vulnerability_database",
	"create_replication_policy", "update_replication_policy", "delete_replication_policy",
	"create_replication_execution", "stop_replication_execution",
}

func (s *Server) writeAuditExt(w http.ResponseWriter, r *http.Request, aq meta.AuditQuery) error {
	list, total, err := s.opt.Access.ListAudit(r.Context(), aq)
	if err != nil {
		return err
	}
	admin := auth.FromContext(r.Context()).SysAdmin
	return writeList(w, r, aq.Page, total, list, func(rec *meta.AuditRecord) auditLogExt {
		l := auditLogExt{ID: rec.ID, Username: rec.Username, Resource: rec.Resource, ResourceType: rec.ResourceType,
			Operation: rec.Operation, OperationDescription: rec.Operation + " " + rec.ResourceType + ": " + rec.Resource,
			OperationResult: rec.Success, OpTime: harborTime(rec.At)}
		if admin {
			l.ClientIP = rec.Remote
		}
		return l
	})
}

// listAuditLogExts: GET /auditlog-exts (system administrators; q keys
// username, operation, resource, resource_type: exact or =~; op_time:
// range; newest first). Harbor also shows other users the records of the
// projects where they may read the log; berth keeps the whole log to
// administrators (the project's own is GET /projects/{name}/auditlog-exts).
func (s *Server) listAuditLogExts(w http.ResponseWriter, r *http.Request) error {
	aq, err := s.auditScope(r, "")
	if err != nil {
		return err
	}
	return s.writeAuditExt(w, r, aq)
}

// getLogExts: GET /projects/{project_name}/auditlog-exts (ReadLogs).
func (s *Server) getLogExts(w http.ResponseWriter, r *http.Request) error {
	aq, err := s.auditScope(r, "project_name")
	if err != nil {
		return err
	}
	return s.writeAuditExt(w, r, aq)
}

// listAuditLogEventTypes: GET /auditlog-exts/events (system
// administrators, as Harbor).
func (s *Server) listAuditLogEventTypes(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	out := make([]struct {
		EventType string `json:"event_type"`
	}, len(auditEventTypes))
	for i, t := range auditEventTypes {
		out[i].EventType = t
	}
	return writeJSON(w, http.StatusOK, out)
}
