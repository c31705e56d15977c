package api

// immutableRoutes lists the operations for tag immutability rules.
func (s *Server) immutableRoutes() []route {
	return []route{
		{"GET", "/projects/{project_name_or_id}/immutabletagrules", s.listImmuRules},
		{"POST", "/projects/{project_name_or_id}/immutabletagrules", s.createImmuRule},
		{"PUT", "/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}", s.updateImmuRule},
		{"DELETE", "/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}", s.deleteImmuRule},
	}
}
