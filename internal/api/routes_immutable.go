package api

// immutableRoutes lists the operations for tag immutability rules.
func (s *Server) immutableRoutes() []route {
	return nil
}
