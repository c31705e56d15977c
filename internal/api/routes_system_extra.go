package api

// systemExtraRoutes lists the operations for ping, statistics, volumes, certificate, search, icon, permissions, configurations.
func (s *Server) systemExtraRoutes() []route {
	return []route{
		{"GET", "/ping", s.ping},
		{"GET", "/statistics", s.getStatistic},
		{"GET", "/systeminfo/volumes", s.getVolumes},
		{"GET", "/systeminfo/getcert", s.getCert},
		{"GET", "/search", s.search},
		{"GET", "/icons/{digest}", s.getIcon},
		{"GET", "/configurations", s.getConfigurations},
		{"PUT", "/configurations", s.updateConfigurations},
	}
}
