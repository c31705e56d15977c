package ui_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/identity/oidc"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/ui"
	"github.com/berth-registry/berth/test/oidcop"
)

// oidcEnv is berth's API, UI and registry token endpoint in auth_mode
// oidc_auth against a provider in the test process (test/oidcop), wired
// as the application wires them: users alice and dave at the provider,
// the local administrator admin (break-glass) here.
type oidcEnv struct {
	*env
	op *oidcop.Provider
}

func newOIDCEnv(t *testing.T, autoOnboard bool) *oidcEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	authn := &auth.Authenticator{Store: store, Limiter: auth.NewLimiter(auth.DefaultLimiterConfig),
		Groups: &oidc.Groups{Store: store}, OnlyBreakGlassPasswords: func() bool { return true }}
	st := settings.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := st.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte("k"), 32)
	sealer, err := settings.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	st.SetSealer(sealer)
	h := api.New(api.Options{Access: store, Store: store, Catalog: store, Auth: authn, Version: "test",
		System: api.SystemOptions{Settings: st}, SessionKey: key,
		Audit: func(rec meta.AuditRecord) {
			rec.At = time.Now()
			_ = store.AppendAudit(ctx, []meta.AuditRecord{rec})
		}})
	u := ui.New(ui.Options{API: h, Version: "test"})
	tokenKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	gate := &auth.Gate{Auth: authn, Tokens: auth.NewTokenService(tokenKey, "berth", "berth", time.Minute)}
	mux := http.NewServeMux()
	mux.Handle(api.Prefix+"/", h)
	mux.Handle("/c/", h)
	mux.HandleFunc(auth.TokenPath, gate.ServeToken)
	mux.Handle("/", u)
	e := &oidcEnv{env: &env{t: t, ctx: ctx, store: store, ui: u}}
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.user("admin", true)
	e.op = oidcop.Start(t, oidcop.Client{ID: "berth", Secret: "client-secret-1", RedirectURI: e.srv.URL + "/c/oidc/callback"},
		oidcop.User{ID: "sub-alice", Username: "alice", Password: "alice-pw", Email: "alice@example.com", Name: "Alice A."},
		oidcop.User{ID: "sub-dave", Username: "dave", Password: "dave-pw"})
	e.configure(map[string]any{"auth_mode": "oidc_auth", "oidc_endpoint": e.op.Issuer, "oidc_client_id": "berth",
		"oidc_client_secret": "client-secret-1", "oidc_scope": "openid", "oidc_user_claim": "preferred_username",
		"oidc_auto_onboard": autoOnboard, "oidc_verify_cert": false, "oidc_name": "Test IdP"})
	return e
}

// configure changes settings as the local administrator.
func (e *oidcEnv) configure(cfg map[string]any) {
	e.t.Helper()
	raw, _ := json.Marshal(cfg)
	r, _ := http.NewRequest(http.MethodPut, e.srv.URL+api.Prefix+"/configurations", bytes.NewReader(raw))
	r.SetBasicAuth("admin", password("admin"))
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("configuring %v: %d", cfg, resp.StatusCode)
	}
}

// oidcSignIn runs the sign-in as a browser does, from the sign-in
// button's link (href) through the provider's login form, in b's cookie
// jar; it returns the last answer (redirects followed).
func (e *oidcEnv) oidcSignIn(b *browser, href, username, pw string) (*http.Response, string) {
	e.t.Helper()
	follow := &http.Client{Jar: b.c.Jar, Timeout: 30 * time.Second}
	resp, err := follow.Get(e.srv.URL + href)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != oidcop.LoginPath {
		e.t.Fatalf("the sign-in link ended at %s: %d", resp.Request.URL, resp.StatusCode)
	}
	resp, err = follow.PostForm(e.op.Issuer+oidcop.LoginPath, oidcop.LoginForm(resp.Request.URL, username, pw))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// tokenWith asks the registry token endpoint for a pull token with Basic
// credentials.
func (e *oidcEnv) tokenWith(username, secret string) int {
	e.t.Helper()
	r, _ := http.NewRequest(http.MethodGet, e.srv.URL+auth.TokenPath+"?service=berth&scope=repository:library/x:pull", nil)
	r.SetBasicAuth(username, secret)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if resp.StatusCode == http.StatusOK && (json.NewDecoder(resp.Body).Decode(&out) != nil || out.Token == "") {
		e.t.Fatal("token endpoint: 200 without a token")
	}
	return resp.StatusCode
}

var oidcLinkRE = regexp.MustCompile(`id="sign-in-oidc" href="([^"]*)"`)

// signInLink is the href of the sign-in button on a page's body.
func signInLink(t *testing.T, body string) string {
	t.Helper()
	m := oidcLinkRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no OIDC sign-in button: %s", body)
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

func TestOIDCSignInPage(t *testing.T) {
	e := newOIDCEnv(t, true)
	anon := e.browser("")
	resp, body := anon.get("/login?next=" + url.QueryEscape("/projects/x?page=2"))
	if resp.StatusCode != 200 || !strings.Contains(body, "Sign in with Test IdP") || !strings.Contains(body, "Local administrator (break-glass)") ||
		!strings.Contains(body, `<label for="principal">`) {
		t.Fatalf("sign-in page: %d %s", resp.StatusCode, body)
	}
	if got := signInLink(t, body); got != "/c/oidc/login?redirect_url="+url.QueryEscape("/projects/x?page=2") {
		t.Errorf("sign-in link %q", got)
	}
	// Only a local path is passed on.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example`} {
		_, body = anon.get("/login?next=" + url.QueryEscape(next))
		if got := signInLink(t, body); got != "/c/oidc/login?redirect_url=%2Fprojects" {
			t.Errorf("next %q: sign-in link %q", next, got)
		}
	}
	// A private page answers the sign-in form, button included, back to it.
	resp, body = anon.get("/profile")
	if resp.StatusCode != http.StatusUnauthorized || signInLink(t, body) != "/c/oidc/login?redirect_url=%2Fprofile" {
		t.Fatalf("signed-out profile: %d", resp.StatusCode)
	}
	_, body = anon.get("/login", "Accept-Language", "zh-CN")
	if !strings.Contains(body, "使用 Test IdP 登录") || !strings.Contains(body, "本地管理员（应急登录）") {
		t.Error("the Chinese sign-in page lacks its texts")
	}
	// Break-glass: the local administrator still signs in with a password;
	// nobody else does.
	admin := e.browser("admin")
	if _, body := admin.get("/projects"); !strings.Contains(body, `id="profile-link"`) {
		t.Error("the administrator is not signed in")
	}
	e.user("local", false)
	if resp, _ := anon.post("/login", url.Values{"principal": {"local"}, "password": {password("local")}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a local user's password sign-in under oidc_auth: %d", resp.StatusCode)
	}

	// The link works: the provider's user lands signed in where she was going.
	resp, body = e.oidcSignIn(anon, signInLink(t, body), "alice", "alice-pw")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/projects" || !strings.Contains(body, `id="profile-link"`) ||
		!strings.Contains(body, ">alice</a>") {
		t.Fatalf("after signing in at the provider: %s %d", resp.Request.URL, resp.StatusCode)
	}

	// Without oidc_auth there is no button.
	plain := newEnv(t)
	if _, body := plain.browser("").get("/login"); strings.Contains(body, "sign-in-oidc") || strings.Contains(body, "break-glass") {
		t.Error("database auth shows the OIDC sign-in")
	}
}

var cliSecretRE = regexp.MustCompile(`id="cli-secret" readonly value="([^"]+)"`)

func TestOIDCProfileAndCLISecret(t *testing.T) {
	e := newOIDCEnv(t, true)
	alice := e.browser("")
	resp, body := e.oidcSignIn(alice, "/c/oidc/login?redirect_url=%2Fprofile", "alice", "alice-pw")
	if resp.Request.URL.Path != "/profile" || resp.StatusCode != 200 {
		t.Fatalf("landed at %s: %d", resp.Request.URL, resp.StatusCode)
	}
	for _, want := range []string{`id="profile-username">alice<`, "alice@example.com", "Alice A.", `id="cli-secret-section"`,
		`id="generate-cli-secret"`, "docker login " + strings.TrimPrefix(e.srv.URL, "http://") + " -u alice", `aria-current="page"`} {
		if !strings.Contains(body, want) {
			t.Errorf("profile lacks %s", want)
		}
	}
	if cliSecretRE.MatchString(body) {
		t.Fatal("a secret on the profile before one was generated")
	}
	// Without the form's token (a cross-site form) nothing is generated.
	resp, body = alice.post("/profile/cli_secret", url.Values{})
	if resp.StatusCode != http.StatusForbidden || cliSecretRE.MatchString(body) {
		t.Fatalf("generate without the CSRF token: %d", resp.StatusCode)
	}
	resp, body = alice.submit("/profile", "/profile/cli_secret", url.Values{})
	m := cliSecretRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("generate: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	secret := m[1]
	if !strings.Contains(body, `id="copy-cli-secret"`) || !strings.Contains(body, "shown only this once") {
		t.Error("the new secret has no copy button or note")
	}
	if got := e.tokenWith("alice", secret); got != http.StatusOK {
		t.Fatalf("token endpoint with the CLI secret: %d", got)
	}
	// Shown once: never again, on any page.
	for _, p := range []string{"/profile", "/projects", "/search?q=a"} {
		if _, body := alice.get(p); strings.Contains(body, secret) {
			t.Errorf("%s shows the secret again", p)
		}
	}
	// Rotating: the previous secret stops working.
	_, body = alice.submit("/profile", "/profile/cli_secret", url.Values{})
	if m := cliSecretRE.FindStringSubmatch(body); m == nil || m[1] == secret {
		t.Fatal("rotation gave no new secret")
	} else if e.tokenWith("alice", m[1]) != http.StatusOK {
		t.Fatal("the rotated secret does not work")
	}
	if got := e.tokenWith("alice", secret); got != http.StatusUnauthorized {
		t.Errorf("the previous secret after rotation: %d", got)
	}
	if _, body := alice.get("/profile", "Accept-Language", "zh-CN"); !strings.Contains(body, "CLI 密钥") || !strings.Contains(body, "个人资料") {
		t.Error("the Chinese profile lacks its texts")
	}

	// The local administrator has no CLI secret: no section, and the form
	// posted anyway is refused by the API (412).
	admin := e.browser("admin")
	resp, body = admin.get("/profile")
	if resp.StatusCode != 200 || strings.Contains(body, "cli-secret") || !strings.Contains(body, `id="profile-username">admin<`) {
		t.Fatalf("administrator's profile: %d", resp.StatusCode)
	}
	resp, body = admin.submit("/profile", "/profile/cli_secret", url.Values{})
	if resp.StatusCode != http.StatusPreconditionFailed || cliSecretRE.MatchString(body) {
		t.Errorf("generate for the local administrator: %d", resp.StatusCode)
	}
	// Nor a user of a registry without OIDC sign-in.
	plain := newEnv(t)
	plain.user("dev", false)
	if resp, body := plain.browser("dev").get("/profile"); resp.StatusCode != 200 || strings.Contains(body, "cli-secret") ||
		!strings.Contains(body, "dev@example.org") {
		t.Errorf("a database user's profile: %d", resp.StatusCode)
	}
	// Signed out: the sign-in form, no secret.
	resp, body = e.browser("").post("/profile/cli_secret", url.Values{})
	if resp.StatusCode != http.StatusUnauthorized || cliSecretRE.MatchString(body) {
		t.Errorf("signed-out generate: %d", resp.StatusCode)
	}
}

func TestOIDCOnboardPage(t *testing.T) {
	e := newOIDCEnv(t, false)
	e.user("taken", false)
	b := e.browser("")
	resp, body := e.oidcSignIn(b, "/c/oidc/login?redirect_url=%2Fprofile", "dave", "dave-pw")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/oidc-onboard" || resp.Request.URL.Query().Get("redirect_url") != "/profile" {
		t.Fatalf("the callback of an identity without a user went to %s: %d", resp.Request.URL, resp.StatusCode)
	}
	for _, want := range []string{`<label for="onboard-username">`, `id="onboard-username" name="username" value="dave"`,
		`name="redirect_url" value="/profile"`, `action="/oidc-onboard"`} {
		if !strings.Contains(body, want) {
			t.Errorf("onboarding page lacks %s: %s", want, body)
		}
	}
	form := func(name string) url.Values { return url.Values{"username": {name}, "redirect_url": {"/profile"}} }
	// A post from another site is refused by the API, and signs nobody in.
	resp, _ = b.do(http.MethodPost, "/oidc-onboard", form("dave-x"), "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("cross-site onboarding: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp, body = b.post("/oidc-onboard", form("bad,name"))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "This user name cannot be used") || !strings.Contains(body, `value="bad,name"`) {
		t.Errorf("invalid name: %d", resp.StatusCode)
	}
	resp, body = b.post("/oidc-onboard", form("taken"))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "This user name is taken") {
		t.Errorf("taken name: %d", resp.StatusCode)
	}
	if resp, body := e.browser("").post("/oidc-onboard", form("dave-chosen")); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, "Your sign-in has expired") {
		t.Errorf("onboarding without the provider's sign-in: %d", resp.StatusCode)
	}
	resp, _ = b.do(http.MethodPost, "/oidc-onboard", form(" dave-chosen "), "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/profile" {
		t.Fatalf("onboarding: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = b.get("/profile")
	if !strings.Contains(body, `id="profile-username">dave-chosen<`) || !strings.Contains(body, `id="cli-secret-section"`) {
		t.Fatalf("after onboarding: %s", body)
	}
	// The page again, signed in: back to where the user was going.
	if resp, _ := b.get("/oidc-onboard?username=x&redirect_url=%2Fprojects"); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/projects" {
		t.Errorf("onboarding page when signed in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.post("/oidc-onboard", form("dave-again")); resp.StatusCode == http.StatusSeeOther {
		t.Error("a second onboarding succeeded")
	}
}
