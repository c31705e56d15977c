package api

// oidcRoutes: OpenID Connect sign-in's operations under /api/v2.0 (the
// flow itself is /c/oidc/login and /c/oidc/callback, see New).
func (s *Server) oidcRoutes() []route {
	return []route{
		{"POST", "/system/oidc/ping", s.pingOIDC},
	}
}
