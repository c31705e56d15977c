package api

// signingRoutes lists the operations on a project's signing keys (berth's
// addition: the trust material its signature policies verify against).
func (s *Server) signingRoutes() []route {
	return []route{
		{"GET", "/projects/{project_name_or_id}/signing-keys", s.listSigningKeys},
		{"POST", "/projects/{project_name_or_id}/signing-keys", s.createSigningKey},
		{"GET", "/projects/{project_name_or_id}/signing-keys/{signing_key_id}", s.getSigningKey},
		{"DELETE", "/projects/{project_name_or_id}/signing-keys/{signing_key_id}", s.deleteSigningKey},
	}
}
