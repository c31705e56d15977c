package api

// purgeAuditRoutes: Harbor's audit log purge (tag "purge"): its history,
// runs, logs and schedule (system administrators).
func (s *Server) purgeAuditRoutes() []route {
	return []route{
		{"GET", "/system/purgeaudit", s.getPurgeHistory},
		{"GET", "/system/purgeaudit/schedule", s.getPurgeSchedule},
		{"POST", "/system/purgeaudit/schedule", s.createPurgeSchedule},
		{"PUT", "/system/purgeaudit/schedule", s.updatePurgeSchedule},
		{"GET", "/system/purgeaudit/{purge_id}", s.getPurgeJob},
		{"PUT", "/system/purgeaudit/{purge_id}", s.stopPurge},
		{"GET", "/system/purgeaudit/{purge_id}/log", s.getPurgeJobLog},
	}
}
