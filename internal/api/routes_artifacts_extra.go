package api

// artifactExtraRoutes lists the operations for artifact copy, accessories,
// additions (labels on artifacts are in routes_labels.go).
func (s *Server) artifactExtraRoutes() []route {
	return []route{
		{"POST", "/projects/{project_name}/repositories/{repository_name}/artifacts", s.copyArtifact},
		{"GET", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/accessories", s.listAccessories},
		{"GET", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/{addition}", s.getAddition},
	}
}
