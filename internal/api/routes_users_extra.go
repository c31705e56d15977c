package api

// userExtraRoutes lists the operations for user search, permissions, CLI secret; audit log ext.
func (s *Server) userExtraRoutes() []route {
	return nil
}
