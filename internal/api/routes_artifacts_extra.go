package api

// artifactExtraRoutes lists the operations for artifact copy, accessories, additions, labels on artifacts.
func (s *Server) artifactExtraRoutes() []route {
	return nil
}
