package api

// userExtraRoutes lists the operations for user search, permissions, CLI secret; audit log ext.
func (s *Server) userExtraRoutes() []route {
	return []route{
		{"GET", "/users/search", s.searchUsers},
		{"GET", "/users/current/permissions", s.getCurrentUserPermissions},
		{"PUT", "/users/{user_id}/cli_secret", s.setCliSecret},
		{"GET", "/permissions", s.getPermissions},
		{"GET", "/auditlog-exts", s.listAuditLogExts},
		{"GET", "/auditlog-exts/events", s.listAuditLogEventTypes},
		{"GET", "/projects/{project_name}/auditlog-exts", s.getLogExts},
	}
}
