package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// forceAuthModeParam is berth's query parameter of PUT /configurations
// that allows changing auth_mode while users other than the bootstrap
// administrator exist (Harbor never allows it then).
const forceAuthModeParam = "force_auth_mode"

// checkAuthModeChange applies Harbor's rule to a change of auth_mode: it
// is allowed while the bootstrap administrator is the only user, so users
// of one mode never turn into users of another by accident; with
// ?force_auth_mode=true it is allowed anyway (the existing users keep
// their memberships; in ldap_auth they sign in with their directory
// password, the local admin always with its local one).
func (s *Server) checkAuthModeChange(r *http.Request, changes map[string]json.RawMessage) error {
	raw, ok := changes[settings.AuthMode]
	if !ok {
		return nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) != nil || mode == s.opt.System.Settings.Get().Identity.AuthMode {
		return nil // a bad value is refused by Update; the same mode changes nothing
	}
	if force, _ := strconv.ParseBool(r.URL.Query().Get(forceAuthModeParam)); force {
		return nil
	}
	_, total, err := s.opt.Access.ListUsers(r.Context(), meta.ListQuery{Page: meta.Page{Page: 1, Size: 1}})
	if err != nil {
		return err
	}
	if total > 1 {
		return errBadRequest("auth_mode: the auth mode cannot be changed once users other than admin exist " +
			"(add ?" + forceAuthModeParam + "=true to change it anyway)")
	}
	return nil
}

// currentAuthMode is Harbor's auth_mode now.
func (s *Server) currentAuthMode() string { return s.opt.System.Settings.Get().Identity.AuthMode }

// requireDBAuth refuses to create local users outside db_auth, as
// Harbor does (directory users are onboarded at sign-in or imported).
func (s *Server) requireDBAuth() error {
	if mode := s.currentAuthMode(); mode != settings.DBAuth {
		return errForbidden("creating local user is not allowed under auth mode: " + mode)
	}
	return nil
}

// requireLocalPassword refuses to set the password of a user other than
// the break-glass admin outside db_auth: such users sign in with the
// directory's password, which berth cannot change.
func (s *Server) requireLocalPassword(username string) error {
	if mode := s.currentAuthMode(); mode != settings.DBAuth && username != auth.BreakGlassUser {
		return errForbidden("passwords are kept by the directory under auth mode " + mode + ": change it there")
	}
	return nil
}
