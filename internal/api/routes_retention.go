package api

// retentionRoutes: Harbor's tag retention (tag "Retention"): the policy
// of a project, its runs, their tasks and logs.
func (s *Server) retentionRoutes() []route {
	return []route{
		{"GET", "/retentions/metadatas", s.getRentenitionMetadata},
		{"POST", "/retentions", s.createRetention},
		{"GET", "/retentions/{id}", s.getRetention},
		{"PUT", "/retentions/{id}", s.updateRetention},
		{"DELETE", "/retentions/{id}", s.deleteRetention},
		{"POST", "/retentions/{id}/executions", s.triggerRetentionExecution},
		{"GET", "/retentions/{id}/executions", s.listRetentionExecutions},
		{"PATCH", "/retentions/{id}/executions/{eid}", s.operateRetentionExecution},
		{"GET", "/retentions/{id}/executions/{eid}/tasks", s.listRetentionTasks},
		{"GET", "/retentions/{id}/executions/{eid}/tasks/{tid}", s.getRetentionTaskLog},
	}
}
