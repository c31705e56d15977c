package api

// quotaRoutes lists the operations for project quotas.
func (s *Server) quotaRoutes() []route {
	return []route{
		{"GET", "/quotas", s.listQuotas},
		{"GET", "/quotas/{id}", s.getQuota},
		{"PUT", "/quotas/{id}", s.updateQuota},
	}
}
