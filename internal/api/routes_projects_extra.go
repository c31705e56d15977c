package api

// projectExtraRoutes lists the operations for project summary, deletable, artifacts of a project, project metadata.
func (s *Server) projectExtraRoutes() []route {
	return []route{
		{"GET", "/projects/{project_name_or_id}/summary", s.getProjectSummary},
		{"GET", "/projects/{project_name_or_id}/_deletable", s.getProjectDeletable},
		{"GET", "/projects/{project_name_or_id}/artifacts", s.listArtifactsOfProject},
		{"GET", "/projects/{project_name_or_id}/metadatas/", s.listProjectMetadatas},
		{"POST", "/projects/{project_name_or_id}/metadatas/", s.addProjectMetadatas},
		{"GET", "/projects/{project_name_or_id}/metadatas/{meta_name}", s.getProjectMetadata},
		{"PUT", "/projects/{project_name_or_id}/metadatas/{meta_name}", s.updateProjectMetadata},
		{"DELETE", "/projects/{project_name_or_id}/metadatas/{meta_name}", s.deleteProjectMetadata},
	}
}
