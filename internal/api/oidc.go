package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/forwarded"
	"github.com/berth-registry/berth/internal/identity/oidc"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// The OIDC flow's paths (outside /api/v2.0, as Harbor's) and its cookie.
const (
	OIDCLoginPath    = "/c/oidc/login"
	OIDCCallbackPath = "/c/oidc/callback"
	OIDCOnboardPath  = "/c/oidc/onboard"
	oidcFlowCookie   = "oidc_flow"
	oidcOnboardCook  = "oidc_onboard"
	// oidcOnboardPage is Harbor's UI page where a user not yet onboarded
	// chooses a user name (oidc_auto_onboard off); it posts to
	// OIDCOnboardPath.
	oidcOnboardPage = "/oidc-onboard"
)

// newOIDCClient is the sign-in client of the server's settings, read at
// each sign-in.
func (s *Server) newOIDCClient() *oidc.Client {
	return &oidc.Client{Settings: func() settings.OIDC { return s.opt.System.Settings.Get().OIDC },
		Secret: func() (string, error) { return s.opt.System.Settings.OIDCClientSecret() },
		Store:  s.opt.Access, FlowKey: s.opt.SessionKey}
}

// oidcConfigured: sign-in through OIDC is on: auth_mode oidc_auth, with
// a provider and a client id.
func (s *Server) oidcConfigured() bool {
	v := s.opt.System.Settings.Get()
	return v.Identity.AuthMode == settings.OIDCAuth && v.OIDC.Endpoint != "" && v.OIDC.ClientID != "" && len(s.opt.SessionKey) >= 32
}

func (s *Server) oidcCallbackURL(r *http.Request) string {
	return forwarded.BaseURL(r, s.opt.ExternalURL) + OIDCCallbackPath
}

// localRedirect is where to go after signing in: a path on this registry
// only (never another site: an open redirect), "/" by default.
func localRedirect(v string) string {
	u, err := url.Parse(v)
	if v == "" || err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(v, "/") ||
		strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n") {
		return "/"
	}
	return v
}

// oidcLogin: GET /c/oidc/login[?redirect_url=/path] sends the browser to
// the provider, with the flow (state, nonce, PKCE verifier) in a signed
// cookie that lives FlowTTL.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	if !s.oidcConfigured() {
		return errPrecondition(oidc.ErrNotConfigured.Error())
	}
	authURL, cookie, err := s.oidcClient.Begin(r.Context(), s.oidcCallbackURL(r), localRedirect(r.URL.Query().Get("redirect_url")))
	if err != nil {
		return oidcError(err)
	}
	// Lax: the provider's redirect back is a top-level GET navigation.
	http.SetCookie(w, &http.Cookie{Name: oidcFlowCookie, Value: cookie, Path: "/c/oidc/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidc.FlowTTL.Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

// oidcCallback: GET /c/oidc/callback?code=…&state=… verifies the sign-in
// (state against the flow cookie, the code exchanged with the PKCE
// verifier, the ID token's signature, audience, expiry and nonce),
// onboards the user and starts berth's session, as /c/login does. Every
// outcome is in the audit log as a login.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if !s.oidcConfigured() {
		return errPrecondition(oidc.ErrNotConfigured.Error())
	}
	http.SetCookie(w, &http.Cookie{Name: oidcFlowCookie, Value: "", Path: "/c/oidc/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode}) // one use only
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		s.loginAudit(r, "", false)
		return errUnauthorized("the identity provider refused the sign-in: " + e + " " + q.Get("error_description"))
	}
	c, err := r.Cookie(oidcFlowCookie)
	if err != nil {
		s.loginAudit(r, "", false)
		return errUnauthorized(oidc.ErrFlow.Error())
	}
	id, redirect, err := s.oidcClient.Finish(r.Context(), s.oidcCallbackURL(r), c.Value, q.Get("state"), q.Get("code"))
	if err != nil {
		s.loginAudit(r, "", false)
		return oidcError(err)
	}
	u, adminChanged, err := s.oidcClient.Onboard(r.Context(), id)
	if errors.Is(err, oidc.ErrNotOnboarded) {
		// Harbor's onboarding: the user chooses a name, then posts it.
		http.SetCookie(w, &http.Cookie{Name: oidcOnboardCook, Value: s.oidcClient.SealPending(id, redirect), Path: "/c/oidc/",
			HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode, MaxAge: int(oidc.FlowTTL.Seconds())})
		http.Redirect(w, r, oidcOnboardPage+"?"+url.Values{"username": {id.Username}, "redirect_url": {redirect}}.Encode(),
			http.StatusFound)
		return nil
	}
	if err != nil {
		s.loginAudit(r, id.Username, false)
		return oidcError(err)
	}
	if u.Disabled {
		s.loginAudit(r, u.Username, false)
		return errForbidden("this account is disabled")
	}
	if adminChanged { // the admin group changed the user's rights: older tokens and sessions end
		if err := s.opt.Auth.Revoke(r.Context(), u.Username); err != nil {
			return err
		}
	}
	s.loginAudit(r, u.Username, true)
	s.startSession(w, r, u)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect, http.StatusFound)
	return nil
}

// oidcOnboard: POST /c/oidc/onboard {"username": …} (Harbor's) creates
// the user of the identity the callback verified (in the onboarding
// cookie, FlowTTL) under the chosen name and starts its session: 400 for
// an invalid name, 409 for a taken one or an identity onboarded already,
// 401 without a valid cookie. Browser requests from other sites are
// refused, as for /c/login.
func (s *Server) oidcOnboard(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	if !s.oidcConfigured() {
		return errPrecondition(oidc.ErrNotConfigured.Error())
	}
	c, err := r.Cookie(oidcOnboardCook)
	if err != nil {
		return errUnauthorized("no sign-in waiting for onboarding: sign in again")
	}
	id, redirect, valid := s.oidcClient.OpenPending(c.Value)
	if !valid {
		return errUnauthorized("no sign-in waiting for onboarding: sign in again")
	}
	var req struct {
		Username string `json:"username"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	req.Username = strings.TrimSpace(req.Username)
	u, err := s.oidcClient.OnboardAs(r.Context(), id, req.Username)
	switch {
	case errors.Is(err, oidc.ErrUsernameTaken), errors.Is(err, meta.ErrConflict):
		return errConflict("the user name is taken, or this identity has been onboarded already")
	case errors.Is(err, oidc.ErrUsername):
		return errBadRequest(err.Error())
	case err != nil:
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: oidcOnboardCook, Value: "", Path: "/c/oidc/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	s.loginAudit(r, u.Username, true)
	s.startSession(w, r, u)
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, map[string]string{"redirect_url": redirect})
}

// oidcPasswordLogin refuses the password form (/c/login) under
// oidc_auth to everyone but the local administrator (break-glass): users
// sign in at the provider; a CLI secret is for clients, never a browser
// session.
func (s *Server) oidcPasswordLogin(principal string) error {
	if s.currentAuthMode() == settings.OIDCAuth && principal != auth.BreakGlassUser {
		return errUnauthorized("this registry signs users in through its OIDC provider: use " + OIDCLoginPath)
	}
	return nil
}

// loginAudit records a sign-in attempt as the Authenticator does.
func (s *Server) loginAudit(r *http.Request, name string, success bool) {
	if name == "" {
		name = "oidc"
	}
	if s.opt.Auth.OnLogin != nil {
		s.opt.Auth.OnLogin(r.Context(), name, r.RemoteAddr, success)
	}
}

// oidcError maps the flow's errors to Harbor's error JSON.
func oidcError(err error) error {
	switch {
	case errors.Is(err, oidc.ErrNotConfigured):
		return errPrecondition(err.Error())
	case errors.Is(err, oidc.ErrFlow):
		return errUnauthorized(oidc.ErrFlow.Error())
	case errors.Is(err, oidc.ErrNotOnboarded), errors.Is(err, oidc.ErrUsername):
		return errForbidden(err.Error())
	case errors.Is(err, oidc.ErrProvider):
		return &Error{http.StatusBadGateway, "BAD_GATEWAY", err.Error()}
	}
	return err
}

// pingOIDC: POST /system/oidc/ping {url, verify_cert} (system
// administrators): 200 when url serves an OpenID provider's discovery
// document naming itself as issuer, else 400 saying why.
func (s *Server) pingOIDC(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	var req struct {
		URL        string `json:"url"`
		VerifyCert *bool  `json:"verify_cert"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errBadRequest("url: want the provider's http or https issuer URL")
	}
	verify := req.VerifyCert == nil || *req.VerifyCert
	if err := oidc.Ping(r.Context(), req.URL, verify); err != nil {
		return errBadRequest("failed to verify the OIDC provider: " + err.Error())
	}
	return ok(w)
}

// cliSecretFor checks a CLI secret change may be made on user_id and
// returns the user and its link: 412 unless OIDC sign-in is on (Harbor:
// checked first) or for a user not onboarded through it; 403 for another
// user's unless an administrator; 404 for a missing user.
func (s *Server) cliSecretFor(r *http.Request) (*meta.User, error) {
	if !s.oidcConfigured() {
		return nil, errPrecondition("unable to update CLI secret under authmode: " + s.currentAuthMode())
	}
	u, err := s.userFor(r)
	if err != nil {
		return nil, err
	}
	if _, err := s.opt.Access.GetOIDCUser(r.Context(), u.ID); isNotFound(err) {
		return nil, errPrecondition("user " + u.Username + " is not onboarded via OIDC authentication")
	} else if err != nil {
		return nil, err
	}
	return u, nil
}

// checkCliSecret is Harbor's rule for a chosen secret: 8 to 128
// characters, with an upper-case letter, a lower-case letter and a digit.
func checkCliSecret(secret string) error {
	if len(secret) < 8 || len(secret) > 128 {
		return errBadRequest("the length of the secret must be from 8 to 128 characters")
	}
	var upper, lower, digit bool
	for _, c := range secret {
		upper = upper || unicode.IsUpper(c)
		lower = lower || unicode.IsLower(c)
		digit = digit || unicode.IsDigit(c)
	}
	if !upper || !lower || !digit {
		return errBadRequest("the secret must contain at least one upper-case letter, one lower-case letter and one digit")
	}
	return nil
}

// cliSecretResp answers a PUT without a secret: the generated one, shown
// only in this answer (berth keeps only its hash).
type cliSecretResp struct {
	Secret string `json:"secret"`
}

// newCliSecret generates a secret that meets checkCliSecret.
func newCliSecret() string {
	for {
		if s := auth.NewSecret(32); checkCliSecret(s) == nil {
			return s
		}
	}
}

// oidcUserMeta is Harbor's OIDCUserInfo without its secret: berth keeps
// only the CLI secret's hash (it is shown once, when it is set).
type oidcUserMeta struct {
	ID           int64      `json:"id"`
	UserID       int64      `json:"user_id"`
	Subiss       string     `json:"subiss"`
	CreationTime harborTime `json:"creation_time"`
	UpdateTime   harborTime `json:"update_time"`
}

// writeOneUser answers one user in Harbor's UserResp, with its
// oidc_user_meta; for the caller's own (current), admin_role_in_auth
// says whether the OIDC admin group made the user an administrator.
func (s *Server) writeOneUser(w http.ResponseWriter, r *http.Request, u *meta.User, current bool) error {
	out := userJSON(u)
	link, err := s.opt.Access.GetOIDCUser(r.Context(), u.ID)
	switch {
	case err == nil:
		out.OIDCUserMeta = &oidcUserMeta{ID: link.UserID, UserID: link.UserID, Subiss: link.SubIss(),
			CreationTime: harborTime(link.CreatedAt), UpdateTime: harborTime(link.UpdatedAt)}
		out.AdminRoleInAuth = current && link.AdminByGroup
	case !isNotFound(err):
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// oidcProviderName is systeminfo's oidc_provider_name: the provider's
// name in oidc_auth, else "" (Harbor's).
func (s *Server) oidcProviderName() string {
	v := s.opt.System.Settings.Get()
	if v.Identity.AuthMode != settings.OIDCAuth {
		return ""
	}
	return v.OIDC.Name
}
