package api

// replicationRoutes: Harbor's replication policies, executions, tasks and
// logs (tag "replication").
func (s *Server) replicationRoutes() []route {
	return []route{
		{"GET", "/replication/policies", s.listReplicationPolicies},
		{"POST", "/replication/policies", s.createReplicationPolicy},
		{"GET", "/replication/policies/{id}", s.getReplicationPolicy},
		{"PUT", "/replication/policies/{id}", s.updateReplicationPolicy},
		{"DELETE", "/replication/policies/{id}", s.deleteReplicationPolicy},
		{"GET", "/replication/executions", s.listReplicationExecutions},
		{"POST", "/replication/executions", s.startReplication},
		{"GET", "/replication/executions/{id}", s.getReplicationExecution},
		{"PUT", "/replication/executions/{id}", s.stopReplication},
		{"GET", "/replication/executions/{id}/tasks", s.listReplicationTasks},
		{"GET", "/replication/executions/{id}/tasks/{task_id}/log", s.getReplicationLog},
	}
}
