package api

// webhookRoutes: Harbor's webhooks (tags "webhook" and "webhookjob"), and
// berth's test.
func (s *Server) webhookRoutes() []route {
	const pol = "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}"
	return []route{
		{"GET", "/projects/{project_name_or_id}/webhook/policies", s.listWebhookPoliciesOfProject},
		{"POST", "/projects/{project_name_or_id}/webhook/policies", s.createWebhookPolicyOfProject},
		{"GET", pol, s.getWebhookPolicyOfProject},
		{"PUT", pol, s.updateWebhookPolicyOfProject},
		{"DELETE", pol, s.deleteWebhookPolicyOfProject},
		{"POST", pol + "/test", s.testWebhookPolicyOfProject},
		{"GET", pol + "/executions", s.listExecutionsOfWebhookPolicy},
		{"GET", pol + "/executions/{execution_id}/tasks", s.listTasksOfWebhookExecution},
		{"GET", pol + "/executions/{execution_id}/tasks/{task_id}/log", s.getLogsOfWebhookTask},
		{"GET", "/projects/{project_name_or_id}/webhook/lasttrigger", s.lastTrigger},
		{"GET", "/projects/{project_name_or_id}/webhook/events", s.getSupportedEventTypes},
		{"GET", "/projects/{project_name_or_id}/webhook/jobs", s.listWebhookJobs},
	}
}
