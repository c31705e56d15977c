package api

// labelRoutes lists the operations for labels (global and project scope)
// and labels on artifacts; repositories of all projects, repository
// updates.
func (s *Server) labelRoutes() []route {
	return []route{
		{"GET", "/labels", s.listLabels},
		{"POST", "/labels", s.createLabel},
		{"GET", "/labels/{label_id}", s.getLabel},
		{"PUT", "/labels/{label_id}", s.updateLabel},
		{"DELETE", "/labels/{label_id}", s.deleteLabel},
		{"POST", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels", s.addLabel},
		{"DELETE", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels/{label_id}", s.removeLabel},
		{"GET", "/repositories", s.listAllRepositories},
		{"PUT", "/projects/{project_name}/repositories/{repository_name}", s.updateRepository},
	}
}
