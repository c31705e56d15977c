package api

// registryRoutes: Harbor's registry endpoints (tag "registry").
func (s *Server) registryRoutes() []route {
	return []route{
		{"GET", "/registries", s.listRegistries},
		{"POST", "/registries", s.createRegistry},
		{"POST", "/registries/ping", s.pingRegistry},
		{"GET", "/registries/{id}", s.getRegistry},
		{"PUT", "/registries/{id}", s.updateRegistry},
		{"DELETE", "/registries/{id}", s.deleteRegistry},
		{"GET", "/registries/{id}/info", s.getRegistryInfo},
		{"GET", "/replication/adapters", s.listRegistryProviderTypes},
		{"GET", "/replication/adapterinfos", s.listRegistryProviderInfos},
	}
}
