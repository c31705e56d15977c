package api

// identityRoutes lists the operations of user groups (and, with an LDAP
// directory, Harbor's /ldap operations).
func (s *Server) identityRoutes() []route {
	return []route{
		{"GET", "/usergroups", s.listUserGroups},
		{"POST", "/usergroups", s.createUserGroup},
		{"GET", "/usergroups/search", s.searchUserGroups},
		{"GET", "/usergroups/{group_id}", s.getUserGroup},
		{"PUT", "/usergroups/{group_id}", s.updateUserGroup},
		{"DELETE", "/usergroups/{group_id}", s.deleteUserGroup},
		{"POST", "/ldap/ping", s.pingLdap},
		{"GET", "/ldap/users/search", s.searchLdapUser},
		{"POST", "/ldap/users/import", s.importLdapUser},
		{"GET", "/ldap/groups/search", s.searchLdapGroup},
	}
}
