package api

// projectExtraRoutes lists the operations for project summary, deletable, artifacts of a project, project metadata.
func (s *Server) projectExtraRoutes() []route {
	return nil
}
