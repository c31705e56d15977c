package api

// labelRoutes lists the operations for labels (global and project scope); repositories of all projects, repository updates.
func (s *Server) labelRoutes() []route {
	return nil
}
