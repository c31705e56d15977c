package api

// systemExtraRoutes lists the operations for ping, statistics, volumes, certificate, search, icon, permissions, configurations.
func (s *Server) systemExtraRoutes() []route {
	return nil
}
