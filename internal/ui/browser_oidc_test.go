package ui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/test/oidcop"
)

// atProvider signs in at the provider's login form shown in c, and
// forgets what the provider's page logged (not berth's page: its
// unlabelled inputs and missing favicon are not checked).
func (c *chrome) atProvider(op *oidcop.Provider, username, pw string) {
	c.t.Helper()
	c.waitFor("provider's login form", `location.href.startsWith(`+jsString(op.Issuer+oidcop.LoginPath)+`) && !!document.querySelector('input[name=username]')`)
	c.do("sign in at the provider", chromedp.SendKeys(`input[name=username]`, username), chromedp.SendKeys(`input[name=password]`, pw),
		chromedp.Click(`form button`))
	c.waitFor("back at berth", `!location.href.startsWith(`+jsString(op.Issuer)+`)`)
	c.mu.Lock()
	kept := c.errs[:0]
	for _, m := range c.errs {
		if !strings.Contains(m, op.Issuer) {
			kept = append(kept, m)
		}
	}
	c.errs = kept
	c.mu.Unlock()
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestBrowserOIDC drives OpenID Connect sign-in in headless Chromium:
// berth in auth_mode oidc_auth against the provider of test/oidcop; the
// sign-in button, the provider's login form, back signed in; the profile,
// a CLI secret generated and copied, then used with the registry's token
// endpoint; and, with automatic onboarding off, the onboarding page.
func TestBrowserOIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.ArtifactDir()
	c := newChrome(t, dir)
	e := newOIDCEnv(t, true)
	base := e.srv.URL

	c.open(base+"/login?next=/projects", "oidc-01-sign-in")
	if !eval[bool](c, `document.getElementById('sign-in-oidc').textContent.includes('Test IdP') && !!document.getElementById('principal')`) {
		t.Fatal("no OIDC button or no break-glass form")
	}
	c.do("sign in with the provider", chromedp.Click("#sign-in-oidc"))
	c.atProvider(e.op, "alice", "alice-pw")
	c.waitFor("signed in", `location.pathname === "/projects" && !!document.getElementById('sign-out') && document.getElementById('profile-link').textContent === "alice"`)
	c.page("oidc-02-signed-in")

	c.do("profile", chromedp.Click("#profile-link"))
	c.waitFor("profile", `location.pathname === "/profile" && !!document.getElementById('cli-secret-section')`)
	c.page("oidc-03-profile")
	if eval[bool](c, `!!document.getElementById('cli-secret')`) {
		t.Fatal("a secret shown before one was generated")
	}
	c.do("generate", chromedp.Click("#generate-cli-secret"))
	c.waitFor("secret", `!!document.getElementById('cli-secret')`)
	c.page("oidc-04-cli-secret")
	secret := eval[string](c, `document.getElementById('cli-secret').value`)
	if len(secret) < 16 {
		t.Fatalf("CLI secret %q", secret)
	}
	c.do("copy", chromedp.Click("#copy-cli-secret"))
	c.waitFor("copied", `document.getElementById('copy-cli-secret').getAttribute('data-copied') === 'true'`)
	if got := e.tokenWith("alice", secret); got != http.StatusOK {
		t.Fatalf("token endpoint with the CLI secret from the page: %d", got)
	}
	if got := e.tokenWith("alice", secret+"x"); got != http.StatusUnauthorized {
		t.Fatalf("token endpoint with a wrong secret: %d", got)
	}
	c.open(base+"/profile", "oidc-05-profile-again")
	if eval[bool](c, `document.documentElement.outerHTML.includes(`+jsString(secret)+`)`) {
		t.Error("CLI secret shown again")
	}

	// Chinese.
	c.do("switch", chromedp.Click("#lang-switch"))
	c.waitFor("chinese", `document.documentElement.lang === "zh-CN" && document.body.innerText.includes('CLI 密钥')`)
	c.page("oidc-06-profile-chinese")

	// Without automatic onboarding, a new identity chooses its name.
	e.configure(map[string]any{"oidc_auto_onboard": false})
	d := c.incognito()
	d.open(base+"/login?next=/profile", "oidc-07-sign-in-dave")
	d.do("sign in with the provider", chromedp.Click("#sign-in-oidc"))
	d.atProvider(e.op, "dave", "dave-pw")
	d.waitFor("onboarding page", `location.pathname === "/oidc-onboard" && document.getElementById('onboard-username').value === "dave"`)
	d.page("oidc-08-onboard")
	eval[string](d, `document.getElementById('onboard-username').value = ""`)
	d.do("choose a name", chromedp.SendKeys("#onboard-username", "dave-chosen"),
		chromedp.Click("#onboard"))
	d.waitFor("onboarded", `location.pathname === "/profile" && document.getElementById('profile-username').textContent === "dave-chosen"`)
	d.page("oidc-09-onboarded")
	t.Logf("screenshots in %s", dir)
}
