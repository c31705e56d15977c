package ui

import (
	"net/http"
)

// OIDCUser reports whether the signed-in user signed up through OpenID
// Connect (users/current has its oidc_user_meta): only such a user has a
// CLI secret.
func (p *page) OIDCUser() bool { return p.User != nil && p.User["oidc_user_meta"] != nil }

// profile: GET /profile, the signed-in user's details and, for an OIDC
// user, the CLI secret's section.
func (s *Server) profile(p *page) error {
	if p.User == nil {
		return &apiError{http.StatusUnauthorized, "authentication required"}
	}
	return p.show("profile", "Your profile", "profile", obj{})
}

// cliSecret: POST /profile/cli_secret generates a new CLI secret of the
// signed-in user (PUT /users/{id}/cli_secret with {}: the API generates
// it, keeps only its hash and answers it once) and shows it on this
// answer only (Cache-Control: no-store, as every page). The API checks
// the form's CSRF token and that the user is an OIDC user.
func (s *Server) cliSecret(p *page) error {
	if p.User == nil {
		return &apiError{http.StatusUnauthorized, "authentication required"}
	}
	var out struct {
		Secret string `json:"secret"`
	}
	if _, err := p.call(http.MethodPut, "/users/"+idOf(p.User["user_id"])+"/cli_secret", obj{}, &out); err != nil {
		return err
	}
	if out.Secret == "" {
		return &apiError{http.StatusInternalServerError, "no secret in the answer"}
	}
	p.Flash = p.T("A new CLI secret was generated: the previous one no longer works.")
	return p.show("profile", "Your profile", "profile", obj{"secret": out.Secret})
}
