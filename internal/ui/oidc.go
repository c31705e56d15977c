package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// The OIDC sign-in's API paths and cookie (internal/api serves them):
// the sign-in button goes to oidcLoginPath; without automatic
// onboarding the callback sends the browser to onboardPagePath with
// ?username=&redirect_url=, whose form the UI posts, as JSON
// {"username"}, to onboardAPIPath with the onboarding cookie the callback
// set.
const (
	oidcLoginPath   = "/c/oidc/login"
	onboardPagePath = "/oidc-onboard"
	onboardAPIPath  = "/c/oidc/onboard"
	onboardCookie   = "oidc_onboard"
)

// OIDCProvider is the name to show on the "Sign in with" button when
// the registry signs users in through OpenID Connect (systeminfo's
// auth_mode oidc_auth), else "".
func (p *page) OIDCProvider() string {
	var info struct {
		AuthMode     string `json:"auth_mode"`
		ProviderName string `json:"oidc_provider_name"`
	}
	if _, err := p.get("/systeminfo", nil, &info); err != nil {
		p.s.opt.Logger.Warn("ui: systeminfo", "err", err)
		return ""
	}
	if info.AuthMode != "oidc_auth" {
		return ""
	}
	if info.ProviderName == "" {
		return p.T("your identity provider")
	}
	return info.ProviderName
}

// OIDCLoginURL is the sign-in button's link: the flow returns to next,
// a path on this site only.
func (p *page) OIDCLoginURL(next string) string {
	return oidcLoginPath + "?" + url.Values{"redirect_url": {p.safeNext(next)}}.Encode()
}

// onboardPage: GET /oidc-onboard?username=&redirect_url= (where the API's
// callback sends an identity that has no user yet, oidc_auto_onboard
// off): the form to choose a user name, proposed from the provider's.
func (s *Server) onboardPage(p *page) error {
	q := p.r.URL.Query()
	next := p.safeNext(q.Get("redirect_url"))
	if p.User != nil {
		http.Redirect(p.w, p.r, next, http.StatusSeeOther)
		return nil
	}
	return p.show("oidc_onboard", "Choose your user name", "", obj{"username": q.Get("username"), "next": next})
}

// onboard: POST /oidc-onboard posts the chosen name to the API's
// /c/oidc/onboard with the onboarding cookie, which creates the user and
// opens the session, and hands its cookies to the browser. There is no
// session yet, so no CSRF token: the API refuses the post unless it comes
// from this site's page (the browser's Origin and Sec-Fetch-Site, passed
// on), as it does for the password sign-in.
func (s *Server) onboard(p *page) error {
	name := strings.TrimSpace(p.r.PostForm.Get("username"))
	next := p.safeNext(p.r.PostForm.Get("redirect_url"))
	p.extra = http.Header{}
	for _, h := range []string{"Origin", "Sec-Fetch-Site"} {
		if v := p.r.Header.Get(h); v != "" {
			p.extra.Set(h, v)
		}
	}
	var out struct {
		RedirectURL string `json:"redirect_url"`
	}
	h, err := p.call(http.MethodPost, onboardAPIPath, obj{"username": name}, &out)
	p.extra = nil
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			return err
		}
		p.Title, p.Data = p.T("Choose your user name"), obj{"username": name, "next": next}
		switch ae.Status {
		case http.StatusBadRequest:
			p.Error = p.T("This user name cannot be used: choose another.")
		case http.StatusConflict:
			p.Error = p.T("This user name is taken, or your account exists already: choose another or sign in again.")
		case http.StatusForbidden: // another site's page posted the form
			p.Error = p.T("The form was refused: it did not come from this registry's page.")
		case http.StatusUnauthorized:
			p.Error = p.T("Your sign-in has expired: sign in again.")
			p.Data = obj{"username": name, "next": next, "expired": true}
		default:
			return err
		}
		p.render(ae.Status, "oidc_onboard")
		return nil
	}
	for _, c := range h.Values("Set-Cookie") {
		p.w.Header().Add("Set-Cookie", c)
	}
	if out.RedirectURL != "" && out.RedirectURL != "/" {
		next = p.safeNext(out.RedirectURL)
	}
	http.Redirect(p.w, p.r, next, http.StatusSeeOther)
	return nil
}
