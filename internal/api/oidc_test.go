package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/identity/oidc"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/test/oidcop"
)

// oidcEnv is an API server configured for sign-in with a provider in the
// test process, whose users are alice (groups dev, team-a), carol (in the
// admin group) and bob (a name a local user already has).
type oidcEnv struct {
	*env
	op     *oidcop.Provider
	logins []string // audit: "name ok" of every sign-in
	mu     sync.Mutex
}

func newOIDCEnv(t *testing.T, changes map[string]any) *oidcEnv {
	t.Helper()
	e := &oidcEnv{env: newSystemEnv(t)}
	sealer, err := settings.NewSealer(e.api.opt.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	e.api.opt.System.Settings.SetSealer(sealer)
	// As app wires it: groups of the last sign-in, CLI secrets, no local
	// passwords but the administrator's.
	e.authn.Groups = &oidc.Groups{Store: e.store}
	e.authn.OnlyBreakGlassPasswords = func() bool { return true }
	e.authn.OnLogin = func(_ context.Context, name, _ string, ok bool) {
		e.mu.Lock()
		e.logins = append(e.logins, fmt.Sprintf("%s %v", name, ok))
		e.mu.Unlock()
	}
	e.op = oidcop.Start(t, oidcop.Client{ID: "berth", Secret: "client-secret-1", RedirectURI: e.srv.URL + OIDCCallbackPath},
		oidcop.User{ID: "sub-alice", Username: "alice", Password: "alice-pw", Email: "alice@example.com", Name: "Alice",
			Groups: []string{"dev", "team-a"}},
		oidcop.User{ID: "sub-carol", Username: "carol", Password: "carol-pw", Groups: []string{"berth-admins"}},
		oidcop.User{ID: "sub-bob", Username: "bob", Password: "bob-pw"})
	cfg := map[string]any{"auth_mode": "oidc_auth", "oidc_endpoint": e.op.Issuer, "oidc_client_id": "berth", "oidc_client_secret": "client-secret-1",
		"oidc_scope": "openid,offline_access", "oidc_groups_claim": oidcop.GroupsClaim, "oidc_admin_group": "berth-admins",
		"oidc_user_claim": "preferred_username", "oidc_auto_onboard": true, "oidc_verify_cert": false, "oidc_name": "Test IdP"}
	for k, v := range changes {
		cfg[k] = v
	}
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", cfg)
	return e
}

// browser is an HTTP client with a cookie jar that follows redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// signIn runs the browser flow as the provider's user: /c/oidc/login,
// the provider's login form, the callback, and the redirect to
// /users/current, whose answer it returns.
func (e *oidcEnv) signIn(b *http.Client, username, password string) (*http.Response, string) {
	e.t.Helper()
	resp, err := b.Get(e.srv.URL + OIDCLoginPath + "?redirect_url=" + url.QueryEscape(Prefix+"/users/current"))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasSuffix(resp.Request.URL.Path, oidcop.LoginPath) {
		e.t.Fatalf("login redirect ended at %s: %d", resp.Request.URL, resp.StatusCode)
	}
	resp, err = b.PostForm(e.op.Issuer+oidcop.LoginPath, oidcop.LoginForm(resp.Request.URL, username, password))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// csrf sends a cookie-authenticated request with the CSRF token.
func (e *oidcEnv) csrf(b *http.Client, method, path string, body any) (*http.Response, string) {
	e.t.Helper()
	u, _ := url.Parse(e.srv.URL)
	var token string
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			token = c.Value
		}
	}
	raw, _ := json.Marshal(body)
	r, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(string(raw)))
	r.Header.Set(csrfHeader, token)
	r.Header.Set("Content-Type", "application/json")
	resp, err := b.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func TestOIDCSettingsSecretWriteOnly(t *testing.T) {
	e := newOIDCEnv(t, nil)
	cfg := decode[map[string]configItem](t, e.expect(200, e.admin, "GET", Prefix+"/configurations", nil))
	if _, shown := cfg["oidc_client_secret"]; shown {
		t.Fatal("GET /configurations shows oidc_client_secret")
	}
	if cfg["oidc_endpoint"].Value != e.op.Issuer || cfg["oidc_auto_onboard"].Value != true || !cfg["oidc_endpoint"].Editable ||
		cfg["oidc_cli_secret_duration"].Value != float64(0) {
		t.Fatalf("OIDC settings: %+v", cfg)
	}
	stored, err := e.store.Settings(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw := stored["oidc_client_secret"]
	if strings.Contains(raw, "client-secret-1") || !strings.HasPrefix(raw, `"enc:v1:`) {
		t.Fatalf("client secret stored as %s", raw)
	}
	if got, err := e.api.opt.System.Settings.OIDCClientSecret(); err != nil || got != "client-secret-1" {
		t.Fatalf("OIDCClientSecret = %q, %v", got, err)
	}
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"oidc_client_secret": 5})
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"oidc_scope": "profile"})
}

func TestOIDCSignIn(t *testing.T) {
	e := newOIDCEnv(t, nil)
	alice := browser(t)
	resp, body := e.signIn(alice, "alice", "alice-pw")
	if resp.StatusCode != 200 || resp.Request.URL.Path != Prefix+"/users/current" {
		t.Fatalf("sign-in ended at %s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	me := decode[user](t, body)
	if me.Username != "alice" || me.Email != "alice@example.com" || me.Realname != "Alice" || me.SysadminFlag ||
		me.OIDCUserMeta == nil || me.OIDCUserMeta.Subiss != "sub-alice"+e.op.Issuer || me.OIDCUserMeta.UserID != me.UserID ||
		me.AdminRoleInAuth {
		t.Fatalf("onboarded: %+v %+v", me, me.OIDCUserMeta)
	}
	if strings.Contains(body, "secret") {
		t.Fatalf("a user's answer mentions a secret: %s", body)
	}
	info := e.expect(200, cred{}, "GET", Prefix+"/systeminfo", nil)
	if !strings.Contains(info, `"auth_mode":"oidc_auth"`) || !strings.Contains(info, `"oidc_provider_name":"Test IdP"`) {
		t.Fatalf("systeminfo: %s", info)
	}
	// Again: the same user, found by issuer and subject.
	_, body = e.signIn(browser(t), "alice", "alice-pw")
	if again := decode[user](t, body); again.UserID != me.UserID {
		t.Fatalf("second sign-in: user %d, first %d", again.UserID, me.UserID)
	}
	// The admin group makes a system administrator.
	_, body = e.signIn(browser(t), "carol", "carol-pw")
	if carol := decode[user](t, body); !carol.SysadminFlag || !carol.AdminRoleInAuth {
		t.Fatalf("admin group member: %+v", carol)
	}
	if local := decode[user](t, e.expect(200, e.admin, "GET", Prefix+"/users/current", nil)); local.OIDCUserMeta != nil {
		t.Fatalf("the local admin has oidc_user_meta: %+v", local.OIDCUserMeta)
	}
	// A provider user named like a local user is not let in as that user.
	bob := e.user("bob", false)
	resp, body = e.signIn(browser(t), "bob", "bob-pw")
	if resp.StatusCode != 403 || !strings.Contains(body, "taken") {
		t.Fatalf("name of a local user: %d %s", resp.StatusCode, body)
	}
	if _, err := e.store.GetOIDCUser(e.ctx, e.userID("bob")); err == nil {
		t.Fatal("the local user bob was linked to the provider's bob")
	}
	// In oidc_auth only the local admin keeps a password (break-glass),
	// and only it may use the password form.
	e.expect(401, bob, "GET", Prefix+"/users/current", nil)
	form := func(user, pass string) int {
		resp, err := http.PostForm(e.srv.URL+"/c/login", url.Values{"principal": {user}, "password": {pass}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if form(e.admin.user, e.admin.pass) != 200 || form(bob.user, bob.pass) != 401 {
		t.Fatal("password form under oidc_auth")
	}
	e.expect(200, e.admin, "GET", Prefix+"/users/current", nil)
	e.mu.Lock()
	logins := strings.Join(e.logins, ",")
	e.mu.Unlock()
	for _, want := range []string{"alice true", "carol true", "bob false"} {
		if !strings.Contains(logins, want) {
			t.Errorf("audit of sign-ins lacks %q: %s", want, logins)
		}
	}
}

func TestOIDCAdminGroupTakenBack(t *testing.T) {
	e := newOIDCEnv(t, nil)
	e.authn.Revocations = &auth.Revocations{Store: e.store}
	first := browser(t)
	_, body := e.signIn(first, "carol", "carol-pw")
	if !decode[user](t, body).SysadminFlag {
		t.Fatal("carol is no admin")
	}
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"oidc_admin_group": "other-admins"})
	second := browser(t)
	_, body = e.signIn(second, "carol", "carol-pw")
	if decode[user](t, body).SysadminFlag {
		t.Fatal("carol is still an admin after leaving the admin group")
	}
	// The session opened as an administrator ends; the new one stands.
	if resp, body := e.csrf(first, "GET", Prefix+"/users/current", nil); resp.StatusCode != 401 {
		t.Fatalf("the administrator's session after the group took the role back: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.csrf(second, "GET", Prefix+"/users/current", nil); resp.StatusCode != 200 {
		t.Fatalf("the new session: %d %s", resp.StatusCode, body)
	}
	// An admin made by hand stays one.
	_, body = e.signIn(browser(t), "alice", "alice-pw")
	id := decode[user](t, body).UserID
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/users/%d/sysadmin", Prefix, id), map[string]bool{"sysadmin_flag": true})
	_, body = e.signIn(browser(t), "alice", "alice-pw")
	if !decode[user](t, body).SysadminFlag {
		t.Fatal("a sign-in took back an admin flag the group did not grant")
	}
}

// TestOIDCOnboarding: with oidc_auto_onboard off, the callback sends the
// browser to Harbor's onboarding page, where the user chooses a name and
// posts it to /c/oidc/onboard (Harbor's): the user is created under it
// and signed in.
func TestOIDCOnboarding(t *testing.T) {
	e := newOIDCEnv(t, map[string]any{"oidc_auto_onboard": false})
	b := browser(t)
	resp, _ := e.signIn(b, "alice", "alice-pw")
	if resp.Request.URL.Path != oidcOnboardPage || resp.Request.URL.Query().Get("username") != "alice" ||
		resp.Request.URL.Query().Get("redirect_url") != Prefix+"/users/current" {
		t.Fatalf("callback of an identity without a user went to %s", resp.Request.URL)
	}
	if _, err := e.store.GetUserByName(e.ctx, "alice"); err == nil {
		t.Fatal("alice was created before choosing a name")
	}
	onboard := func(c *http.Client, body string, hdr ...string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest("POST", e.srv.URL+OIDCOnboardPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	e.user("taken", false)
	for _, c := range []struct {
		status int
		body   string
		hdr    []string
	}{
		{400, `{"username":"bad,name"}`, nil},
		{400, `{"username":""}`, nil},
		{409, `{"username":"taken"}`, nil},
		{403, `{"username":"alice-chosen"}`, []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		if got, body := onboard(b, c.body, c.hdr...); got != c.status {
			t.Errorf("onboard %s: %d %s, want %d", c.body, got, body, c.status)
		}
	}
	if got, _ := onboard(browser(t), `{"username":"alice-chosen"}`); got != 401 {
		t.Errorf("onboard without the cookie: %d", got)
	}
	if got, body := onboard(b, `{"username":"alice-chosen"}`); got != 200 || !strings.Contains(body, Prefix+"/users/current") {
		t.Fatalf("onboard: %d %s", got, body)
	}
	resp, body := e.csrf(b, "GET", Prefix+"/users/current", nil)
	if me := decode[user](t, body); resp.StatusCode != 200 || me.Username != "alice-chosen" || me.OIDCUserMeta == nil {
		t.Fatalf("after onboarding: %d %s", resp.StatusCode, body)
	}
	// Spent; and the next sign-in finds the user without asking.
	if got, _ := onboard(b, `{"username":"alice-again"}`); got != 401 {
		t.Errorf("second onboarding with the same cookie: %d", got)
	}
	_, body = e.signIn(browser(t), "alice", "alice-pw")
	if me := decode[user](t, body); me.Username != "alice-chosen" {
		t.Fatalf("second sign-in: %s", body)
	}
}

// TestOIDCCallbackRefusals: a callback without the flow cookie, with
// another state, a forged cookie, or the provider's error is refused, and
// no session starts.
func TestOIDCCallbackRefusals(t *testing.T) {
	e := newOIDCEnv(t, nil)
	// Stop at the redirect to berth's callback, keeping its parameters.
	b := browser(t)
	var callback *url.URL
	b.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == OIDCCallbackPath {
			callback = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	begin := func() {
		t.Helper()
		callback = nil
		resp, err := b.Get(e.srv.URL + OIDCLoginPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = b.PostForm(e.op.Issuer+oidcop.LoginPath, oidcop.LoginForm(resp.Request.URL, "alice", "alice-pw"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if callback == nil {
			t.Fatalf("no redirect to the callback: %d", resp.StatusCode)
		}
	}
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	begin()
	q := callback.Query()
	q.Set("state", "tampered")
	if code, body := get(b, e.srv.URL+OIDCCallbackPath+"?"+q.Encode()); code != 401 {
		t.Fatalf("tampered state: %d %s", code, body)
	}
	// The flow cookie is spent by any callback: the genuine one now fails too.
	if code, _ := get(b, callback.String()); code != 401 {
		t.Fatalf("second callback of one flow: %d", code)
	}
	begin()
	if code, _ := get(browser(t), callback.String()); code != 401 {
		t.Fatalf("callback without the flow cookie: %d", code)
	}
	begin()
	u, _ := url.Parse(e.srv.URL + "/c/oidc/")
	forged := false
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == oidcFlowCookie {
			b.Jar.SetCookies(u, []*http.Cookie{{Name: oidcFlowCookie, Value: "x" + c.Value, Path: "/c/oidc/"}})
			forged = true
		}
	}
	if !forged {
		t.Fatal("no flow cookie to forge")
	}
	if code, _ := get(b, callback.String()); code != 401 {
		t.Fatalf("forged flow cookie: %d", code)
	}
	if code, body := get(browser(t), e.srv.URL+OIDCCallbackPath+"?error=access_denied&error_description=no"); code != 401 ||
		!strings.Contains(body, "access_denied") {
		t.Fatalf("provider's error: %d %s", code, body)
	}
	if _, err := e.store.GetUserByName(e.ctx, "alice"); err == nil {
		t.Fatal("a refused callback onboarded alice")
	}
	// Only local paths are redirected to.
	for in, want := range map[string]string{"/x?y=1": "/x?y=1", "https://evil.example/": "/", "//evil.example/": "/",
		"": "/", "x": "/", "/\\evil": "/"} {
		if got := localRedirect(in); got != want {
			t.Errorf("localRedirect(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOIDCNotConfigured(t *testing.T) {
	e := newOIDCEnv(t, nil)
	check := func(what string) {
		t.Helper()
		for _, p := range []string{OIDCLoginPath, OIDCCallbackPath + "?code=x&state=y"} {
			resp, body := e.req(cred{}, "GET", p, nil)
			if resp.StatusCode != 412 || !strings.Contains(body, "not configured") {
				t.Errorf("%s: %s: %d %s", what, p, resp.StatusCode, body)
			}
		}
	}
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "db_auth"})
	check("db_auth")
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "oidc_auth", "oidc_endpoint": ""})
	check("no endpoint")
}

// TestOIDCGroups: the groups claim makes OIDC user groups (type 3); a
// group made a project member gives its members its role, through the
// session and the CLI secret alike, and a sign-in without the group takes
// it away.
func TestOIDCGroups(t *testing.T) {
	e := newOIDCEnv(t, map[string]any{"oidc_group_filter": "^team-"})
	b := browser(t)
	_, body := e.signIn(b, "alice", "alice-pw")
	me := decode[user](t, body)
	groups := e.expect(200, e.admin, "GET", Prefix+"/usergroups?group_name=team", nil)
	if !strings.Contains(groups, `"group_name":"team-a"`) || !strings.Contains(groups, `"group_type":3`) {
		t.Fatalf("user groups after sign-in: %s", groups)
	}
	if strings.Contains(e.expect(200, e.admin, "GET", Prefix+"/usergroups", nil), `"group_name":"dev"`) {
		t.Fatal("a group the filter leaves out was made")
	}
	e.project("team-proj", false, nil)
	var gid int64
	for _, g := range decode[[]struct {
		ID   int64  `json:"id"`
		Name string `json:"group_name"`
	}](t, groups) {
		if g.Name == "team-a" {
			gid = g.ID
		}
	}
	e.expect(201, e.admin, "POST", Prefix+"/projects/team-proj/members", map[string]any{"role_id": 2,
		"member_group": map[string]any{"id": gid}})
	resp, body := e.csrf(b, "GET", Prefix+"/projects/team-proj", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"current_user_role_id":2`) {
		t.Fatalf("alice's session in the group's project: %d %s", resp.StatusCode, body)
	}
	resp, body = e.csrf(b, "PUT", fmt.Sprintf("%s/users/%d/cli_secret", Prefix, me.UserID), map[string]string{})
	if resp.StatusCode != 200 {
		t.Fatalf("cli secret: %d %s", resp.StatusCode, body)
	}
	secret := decode[cliSecretResp](t, body).Secret
	if got := e.registryGrant(t, "alice", secret, "repository:team-proj/app:pull,push"); got != "pull,push" {
		t.Fatalf("token for the group's project with the CLI secret grants %q", got)
	}
	// Signed in again without the group: no longer a member.
	e.op.SetGroups("sub-alice", []string{"dev"})
	e.signIn(browser(t), "alice", "alice-pw")
	e.authn.Forget()
	if got := e.registryGrant(t, "alice", secret, "repository:team-proj/app:pull,push"); got != "" {
		t.Fatalf("token after leaving the group grants %q", got)
	}
}

func TestPingOIDC(t *testing.T) {
	e := newOIDCEnv(t, nil)
	e.authn.OnlyBreakGlassPasswords = nil // a local user from before the switch, for the 403
	alice := e.user("alice-local", false)
	e.expect(200, e.admin, "POST", Prefix+"/system/oidc/ping", map[string]any{"url": e.op.Issuer, "verify_cert": true})
	e.expect(200, e.admin, "POST", Prefix+"/system/oidc/ping", map[string]any{"url": e.op.Issuer})
	body := e.expect(400, e.admin, "POST", Prefix+"/system/oidc/ping", map[string]any{"url": e.srv.URL})
	if !strings.Contains(body, "failed to verify the OIDC provider") {
		t.Errorf("not a provider: %s", body)
	}
	e.expect(400, e.admin, "POST", Prefix+"/system/oidc/ping", map[string]any{"url": "ftp://x"})
	e.expect(400, e.admin, "POST", Prefix+"/system/oidc/ping", map[string]any{})
	e.expect(403, alice, "POST", Prefix+"/system/oidc/ping", map[string]any{"url": e.op.Issuer})
	e.expect(401, cred{}, "POST", Prefix+"/system/oidc/ping", map[string]any{"url": e.op.Issuer})
}

func TestCliSecret(t *testing.T) {
	e := newOIDCEnv(t, nil)
	b := browser(t)
	_, body := e.signIn(b, "alice", "alice-pw")
	me := decode[user](t, body)
	path := fmt.Sprintf("%s/users/%d/cli_secret", Prefix, me.UserID)

	// Generated: shown once, in the answer.
	resp, body := e.csrf(b, "PUT", path, map[string]string{})
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("generate: %d %s", resp.StatusCode, body)
	}
	first := decode[cliSecretResp](t, body).Secret
	if checkCliSecret(first) != nil {
		t.Fatalf("generated secret %q breaks the rule", first)
	}
	aliceCLI := cred{"alice", first}
	if got := decode[user](t, e.expect(200, aliceCLI, "GET", Prefix+"/users/current", nil)); got.UserID != me.UserID {
		t.Fatalf("Basic with the CLI secret: %+v", got)
	}
	// The registry's token endpoint takes it as the password.
	token := e.registryToken(t, "alice", first)
	if token == 0 {
		t.Fatal("token endpoint refused the CLI secret")
	}

	// Rotated with a chosen secret (Harbor's body): the old one is refused.
	e.expect(400, aliceCLI, "PUT", path, map[string]string{"secret": "short"})
	e.expect(400, aliceCLI, "PUT", path, map[string]string{"secret": "alllowercase123"})
	e.expect(200, aliceCLI, "PUT", path, map[string]string{"secret": "Rotated-Secret-42"})
	e.expect(401, aliceCLI, "GET", Prefix+"/users/current", nil)
	if e.registryToken(t, "alice", first) != 401 {
		t.Fatal("the token endpoint took the old secret")
	}
	rotated := cred{"alice", "Rotated-Secret-42"}
	e.expect(200, rotated, "GET", Prefix+"/users/current", nil)
	if resp, err := http.PostForm(e.srv.URL+"/c/login", url.Values{"principal": {"alice"}, "password": {rotated.pass}}); err != nil ||
		resp.StatusCode != 401 {
		t.Fatalf("a CLI secret opened a browser session: %v %v", resp, err)
	}

	// The provider's refresh tokens have nothing to do with it.
	refresh := e.op.RefreshTokens()
	if len(refresh) == 0 {
		t.Fatal("the provider issued no refresh token")
	}
	for _, rt := range refresh {
		if oerr := e.op.Storage.RevokeToken(e.ctx, rt, "sub-alice", "berth"); oerr != nil {
			t.Fatal(oerr)
		}
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh[0]}, "client_id": {"berth"},
		"client_secret": {"client-secret-1"}}
	if resp, err := http.PostForm(e.op.Issuer+"/oauth/token", form); err != nil || resp.StatusCode == 200 {
		t.Fatalf("the revoked refresh token still works at the provider: %v %v", resp, err)
	}
	e.authn.Forget()
	e.expect(200, rotated, "GET", Prefix+"/users/current", nil)
	if e.registryToken(t, "alice", "Rotated-Secret-42") != 200 {
		t.Fatal("token endpoint refused the CLI secret after the refresh token was revoked")
	}

	// Rights: another user's secret only by an administrator; local users
	// have none; a missing user is 404.
	_, body = e.signIn(browser(t), "carol", "carol-pw")
	carol := decode[user](t, body)
	e.expect(403, rotated, "PUT", fmt.Sprintf("%s/users/%d/cli_secret", Prefix, carol.UserID), map[string]string{})
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/users/%d/cli_secret", Prefix, carol.UserID), map[string]string{"secret": "Carol-Secret-1"})
	e.expect(200, cred{"carol", "Carol-Secret-1"}, "GET", Prefix+"/users/current", nil)
	e.expect(412, e.admin, "PUT", fmt.Sprintf("%s/users/%d/cli_secret", Prefix, e.userID("admin")), map[string]string{})
	e.expect(404, e.admin, "PUT", Prefix+"/users/999999/cli_secret", map[string]string{})
	e.expect(401, cred{}, "PUT", path, map[string]string{})
	logs := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?q=resource_type%3Dcli_secret", nil)
	if strings.Count(logs, `"resource":"alice"`) != 2 || strings.Count(logs, `"resource":"carol"`) != 1 {
		t.Errorf("audit of CLI secret changes: %s", logs)
	}

	// The administrator's expiry applies to secrets already set.
	e.authn.CLISecretLifetime = func() time.Duration { return time.Nanosecond }
	e.authn.Forget()
	e.expect(401, rotated, "GET", Prefix+"/users/current", nil)
	e.authn.CLISecretLifetime = func() time.Duration { return time.Hour }
	e.expect(200, rotated, "GET", Prefix+"/users/current", nil)
	e.checkNoSecrets(nil)
}

// registryToken asks the registry's token endpoint for a pull token as
// name with password and returns the status.
func (e *oidcEnv) registryToken(t *testing.T, name, password string) int {
	t.Helper()
	status, _ := e.tokenRequest(t, name, password, "repository:library/x:pull")
	return status
}

// registryGrant returns the actions the token endpoint grants name on
// scope ("" none).
func (e *oidcEnv) registryGrant(t *testing.T, name, password, scope string) string {
	t.Helper()
	status, tok := e.tokenRequest(t, name, password, scope)
	if status != 200 {
		t.Fatalf("token request: %d", status)
	}
	parts := strings.Split(tok, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Access []struct {
			Actions []string `json:"actions"`
		} `json:"access"`
	}
	if err := json.Unmarshal(claims, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Access) == 0 {
		return ""
	}
	return strings.Join(c.Access[0].Actions, ",")
}

func (e *oidcEnv) tokenRequest(t *testing.T, name, password, scope string) (int, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g := &auth.Gate{Auth: e.authn, Tokens: auth.NewTokenService(key, "berth", "berth", time.Minute)}
	srv := httptest.NewServer(http.HandlerFunc(g.ServeToken))
	defer srv.Close()
	r, _ := http.NewRequest("GET", srv.URL+auth.TokenPath+"?service=berth&scope="+url.QueryEscape(scope), nil)
	r.SetBasicAuth(name, password)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Token
}

// TestCliSecretLimiter: wrong CLI secrets count in the brute-force limiter
// like wrong passwords (the address is then refused, the right secret
// too), and every attempt is in the audit of sign-ins.
func TestCliSecretLimiter(t *testing.T) {
	e := newOIDCEnv(t, nil)
	e.authn.Limiter = auth.NewLimiter(auth.LimiterConfig{SlowAfter: 100, LockAfter: 3, Window: time.Minute, Lockout: time.Minute})
	_, body := e.signIn(browser(t), "alice", "alice-pw")
	id := decode[user](t, body).UserID
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/users/%d/cli_secret", Prefix, id), map[string]string{"secret": "Right-Secret-1"})
	e.expect(200, cred{"alice", "Right-Secret-1"}, "GET", Prefix+"/users/current", nil)
	e.authn.Forget()
	for range 3 {
		e.expect(401, cred{"alice", "Wrong-Secret-1"}, "GET", Prefix+"/users/current", nil)
	}
	body = e.expect(401, cred{"alice", "Right-Secret-1"}, "GET", Prefix+"/users/current", nil)
	if !strings.Contains(body, auth.ErrLocked.Error()) {
		t.Fatalf("after 3 wrong secrets: %s", body)
	}
	if e.registryToken(t, "alice", "Right-Secret-1") != 401 {
		t.Fatal("the token endpoint took a locked-out secret")
	}
	e.mu.Lock()
	logins := strings.Join(e.logins, ",")
	e.mu.Unlock()
	if strings.Count(logins, "alice false") < 4 || !strings.Contains(logins, "alice true") {
		t.Fatalf("audit of sign-ins: %s", logins)
	}
}
