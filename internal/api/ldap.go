package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
)

// ldapConf is Harbor's LdapConf: a configuration to ping.
type ldapConf struct {
	URL            *string `json:"ldap_url"`
	SearchDN       *string `json:"ldap_search_dn"`
	SearchPassword *string `json:"ldap_search_password"`
	BaseDN         *string `json:"ldap_base_dn"`
	Filter         *string `json:"ldap_filter"`
	UID            *string `json:"ldap_uid"`
	Scope          *int    `json:"ldap_scope"`
	Timeout        *int    `json:"ldap_connection_timeout"`
	VerifyCert     *bool   `json:"ldap_verify_cert"`
}

// ldapUser is Harbor's LdapUser.
type ldapUser struct {
	Username string `json:"username"`
	Realname string `json:"realname"`
	Email    string `json:"email"`
}

// ldapFailedImport is Harbor's LdapFailedImportUser.
type ldapFailedImport struct {
	UID   string `json:"uid"`
	Error string `json:"error"`
}

// ldapService is the directory, or a 400 when none is configured.
func (s *Server) ldapService(r *http.Request) (*ldap.Service, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	if s.opt.LDAP == nil || !s.opt.LDAP.Configured() {
		return nil, errBadRequest("no LDAP directory is configured (ldap_url)")
	}
	return s.opt.LDAP, nil
}

// ldapError turns the directory's refusal of a request (a bad base DN or
// filter) into a 400 naming it; an unreachable directory stays a 503.
func ldapError(err error) error {
	var le *goldap.Error
	if err != nil && !ldap.IsUnavailable(err) && errors.As(err, &le) {
		return errBadRequest("ldap: " + le.Error())
	}
	return err
}

// pingLdap: POST /ldap/ping (system administrators) with an optional
// LdapConf over the configuration in force (without
// ldap_search_password, the stored one is used, as Harbor does, but only
// for the stored ldap_url and ldap_search_dn). The
// result is Harbor's LdapPingResult: success false with the reason when
// the directory cannot be reached or refuses the bind.
func (s *Server) pingLdap(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	if s.opt.LDAP == nil {
		return errBadRequest("berth was started without LDAP support")
	}
	var req ldapConf
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	stored, err := s.opt.LDAP.Current()
	if err != nil {
		return err
	}
	c := stored
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&c.URL, req.URL)
	set(&c.SearchDN, req.SearchDN)
	set(&c.BaseDN, req.BaseDN)
	set(&c.Filter, req.Filter)
	set(&c.UID, req.UID)
	if req.SearchPassword != nil {
		c.SearchPassword = *req.SearchPassword
	} else if c.URL != stored.URL || c.SearchDN != stored.SearchDN {
		// The stored password is sent only where it belongs: Harbor would
		// send it to any server the request names.
		c.SearchPassword = ""
	}
	if req.Scope != nil {
		c.Scope = *req.Scope
	}
	if req.Timeout != nil {
		if *req.Timeout < 1 || *req.Timeout > 60 {
			return errBadRequest("ldap_connection_timeout: want 1 to 60 seconds")
		}
		c.Timeout = time.Duration(*req.Timeout) * time.Second
	}
	if req.VerifyCert != nil {
		c.VerifyCert = *req.VerifyCert
	}
	out := struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	}{true, "the directory answered and accepted the search DN"}
	if err := s.opt.LDAP.Ping(r.Context(), c); err != nil {
		out.Success, out.Message = false, err.Error()
	}
	return writeJSON(w, http.StatusOK, out)
}

// searchLdapUser: GET /ldap/users/search?username= (system
// administrators): at most ldap.MaxSearch users.
func (s *Server) searchLdapUser(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.ldapService(r)
	if err != nil {
		return err
	}
	users, err := svc.SearchUsers(r.Context(), r.URL.Query().Get("username"))
	if err != nil {
		return ldapError(err)
	}
	out := make([]ldapUser, 0, len(users))
	for _, u := range users {
		out = append(out, ldapUser{Username: u.Username, Realname: u.Realname, Email: u.Email})
	}
	return writeJSON(w, http.StatusOK, out)
}

// maxImport bounds the uids of one import.
const maxImport = 1000

// importLdapUser: POST /ldap/users/import {ldap_uid_list} (system
// administrators): onboards the users; 404 with Harbor's
// LdapFailedImportUser list when some could not be.
func (s *Server) importLdapUser(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.ldapService(r)
	if err != nil {
		return err
	}
	var req struct {
		UIDs []string `json:"ldap_uid_list"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if len(req.UIDs) == 0 || len(req.UIDs) > maxImport {
		return errBadRequest("ldap_uid_list: want 1 to 1000 uids")
	}
	imported, failed, err := svc.ImportUsers(r.Context(), req.UIDs)
	for _, name := range imported {
		s.record(r.Context(), r, "create", "user", name, nil)
	}
	if err != nil {
		return ldapError(err)
	}
	if len(failed) > 0 {
		out := make([]ldapFailedImport, 0, len(failed))
		for _, f := range failed {
			out = append(out, ldapFailedImport{UID: f.UID, Error: f.Reason})
		}
		return writeJSON(w, http.StatusNotFound, out)
	}
	return ok(w)
}

// searchLdapGroup: GET /ldap/groups/search?groupname=&groupdn= (system
// administrators): Harbor's UserGroup list (group_type 1, no id).
func (s *Server) searchLdapGroup(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.ldapService(r)
	if err != nil {
		return err
	}
	name, dn := r.URL.Query().Get("groupname"), r.URL.Query().Get("groupdn")
	if name == "" && dn == "" {
		return errBadRequest("give groupname or groupdn")
	}
	groups, err := svc.SearchGroups(r.Context(), name, dn)
	if err != nil {
		return ldapError(err)
	}
	out := make([]userGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, userGroup{GroupName: g.Name, GroupType: 1, LDAPGroupDN: g.DN})
	}
	return writeJSON(w, http.StatusOK, out)
}

// checkNewGroup refuses an LDAP group the configured directory does not
// have, as Harbor does, and names it after the directory's group name;
// its DN is kept in ldap.CanonicalDN form.
func (s *Server) checkNewGroup(r *http.Request, g *meta.UserGroup, named bool) error {
	if g.Type != meta.LDAPGroup {
		return nil
	}
	g.LDAPDN = ldap.CanonicalDN(g.LDAPDN)
	if s.opt.LDAP == nil || !s.opt.LDAP.Configured() {
		return nil
	}
	found, err := s.opt.LDAP.GroupByDN(r.Context(), g.LDAPDN)
	if err != nil {
		return ldapError(err)
	}
	if found == nil {
		return errBadRequest("the LDAP group " + g.LDAPDN + " is not in the directory")
	}
	if !named && found.Name != "" {
		g.Name = found.Name
	}
	return nil
}
