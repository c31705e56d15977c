package oidc

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/test/oidcop"
)

const callback = "http://berth.test/c/oidc/callback"

func newClient(t *testing.T) (*Client, *oidcop.Provider) {
	t.Helper()
	op := oidcop.Start(t, oidcop.Client{ID: "berth", Secret: "cs", RedirectURI: callback},
		oidcop.User{ID: "sub-a", Username: "alice", Password: "pw", Groups: []string{"dev", "team-x", "admins"}})
	key := bytes.Repeat([]byte("f"), 32)
	store, err := sqlstore.OpenSQLite(context.Background(), t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := settings.OIDC{Endpoint: op.Issuer, ClientID: "berth", ClientSecret: "sealed elsewhere",
		Scope: "openid,offline_access", VerifyCert: true, GroupsClaim: oidcop.GroupsClaim, GroupFilter: "^(team-|admins)",
		AdminGroup: "admins", AutoOnboard: true}
	return &Client{Settings: func() settings.OIDC { return cfg }, Secret: func() (string, error) { return "cs", nil },
		Store: store, FlowKey: key}, op
}

// authorize runs the browser's part at the provider for authURL and
// returns the code and state sent back to the callback.
func authorize(t *testing.T, authURL string) (code, state string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var back *url.URL
	b := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), callback) {
			back = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(authURL)
	resp, err = b.PostForm(u.Scheme+"://"+u.Host+oidcop.LoginPath, oidcop.LoginForm(resp.Request.URL, "alice", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if back == nil {
		t.Fatalf("no redirect to the callback (%d)", resp.StatusCode)
	}
	return back.Query().Get("code"), back.Query().Get("state")
}

func TestFlow(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	authURL, cookie, err := c.Begin(ctx, callback, "/after")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(authURL)
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if q.Query().Get(k) == "" {
			t.Errorf("the authorization request has no %s: %s", k, authURL)
		}
	}
	if q.Query().Get("code_challenge_method") != "S256" || strings.Contains(authURL, "cs") && strings.Contains(authURL, "client_secret") {
		t.Errorf("authorization request: %s", authURL)
	}
	code, state := authorize(t, authURL)
	id, redirect, err := c.Finish(ctx, callback, cookie, state, code)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "sub-a" || id.Username != "alice" || redirect != "/after" || strings.Join(id.Groups, ",") != "team-x,admins" {
		t.Fatalf("identity %+v, redirect %q", id, redirect)
	}
	u, adminChanged, err := c.Onboard(ctx, id)
	if err != nil || !adminChanged || !u.SysAdmin || u.Username != "alice" {
		t.Fatalf("Onboard: %+v %v %v", u, adminChanged, err)
	}
	if again, adminChanged, err := c.Onboard(ctx, id); err != nil || adminChanged || again.ID != u.ID {
		t.Fatalf("Onboard again: %+v %v %v", again, adminChanged, err)
	}
	// The code is spent.
	if _, _, err := c.Finish(ctx, callback, cookie, state, code); !errors.Is(err, ErrProvider) {
		t.Fatalf("replayed code: %v", err)
	}
}

// TestFlowTampering: state, nonce, PKCE verifier and the cookie's
// signature and lifetime are each checked.
func TestFlowTampering(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	start := func() (flow, string, string) {
		authURL, cookie, err := c.Begin(ctx, callback, "/")
		if err != nil {
			t.Fatal(err)
		}
		f, ok := openFlow(c.FlowKey, cookie)
		if !ok {
			t.Fatal("own cookie does not open")
		}
		code, state := authorize(t, authURL)
		return f, code, state
	}
	f, code, state := start()
	if _, _, err := c.Finish(ctx, callback, f.seal(c.FlowKey), state+"x", code); !errors.Is(err, ErrFlow) {
		t.Errorf("other state: %v", err)
	}
	f, code, state = start()
	forged := f
	forged.Nonce = "another-nonce" // signed with the key: only the ID token's nonce can catch it
	if _, _, err := c.Finish(ctx, callback, forged.seal(c.FlowKey), state, code); !errors.Is(err, ErrFlow) {
		t.Errorf("other nonce: %v", err)
	}
	f, code, state = start()
	forged = f
	forged.Verifier = "x" + f.Verifier[1:]
	if f.Verifier[0] == 'x' { // a random verifier starts with x once in 64 runs
		forged.Verifier = "y" + f.Verifier[1:]
	}
	if _, _, err := c.Finish(ctx, callback, forged.seal(c.FlowKey), state, code); !errors.Is(err, ErrProvider) {
		t.Errorf("other PKCE verifier: %v", err)
	}
	f, code, state = start()
	if _, _, err := c.Finish(ctx, callback, f.seal(bytes.Repeat([]byte("g"), 32)), state, code); !errors.Is(err, ErrFlow) {
		t.Errorf("cookie signed with another key: %v", err)
	}
	expired := f
	expired.Expires = time.Now().Add(-time.Second).Unix()
	if _, _, err := c.Finish(ctx, callback, expired.seal(c.FlowKey), state, code); !errors.Is(err, ErrFlow) {
		t.Errorf("expired flow: %v", err)
	}
	for _, bad := range []string{"", "abc", "a.b", f.seal(c.FlowKey) + "x"} {
		if _, _, err := c.Finish(ctx, callback, bad, state, code); !errors.Is(err, ErrFlow) {
			t.Errorf("cookie %q: %v", bad, err)
		}
	}
	// After all that, the genuine flow still completes.
	if _, _, err := c.Finish(ctx, callback, f.seal(c.FlowKey), state, code); err != nil {
		t.Errorf("genuine flow: %v", err)
	}
}

func TestNotConfiguredAndPing(t *testing.T) {
	c, op := newClient(t)
	empty := &Client{Settings: func() settings.OIDC { return settings.OIDC{} }, Secret: c.Secret, Store: c.Store, FlowKey: c.FlowKey}
	if _, _, err := empty.Begin(context.Background(), callback, "/"); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("Begin without settings: %v", err)
	}
	if err := Ping(context.Background(), op.Issuer, true); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := Ping(context.Background(), op.Issuer+"/nothing", true); err == nil {
		t.Fatal("Ping of a path that is no provider succeeded")
	}
}

func TestIdentityOf(t *testing.T) {
	claims := map[string]any{"preferred_username": "p", "name": "N", "email": "e@x", "login": "l", "groups": "solo", "roles": []any{"a", 1, "b"}}
	for _, c := range []struct {
		cfg  settings.OIDC
		user string
		grp  string
	}{
		{settings.OIDC{}, "p", ""},
		{settings.OIDC{UserClaim: "login", GroupsClaim: "groups"}, "l", "solo"},
		{settings.OIDC{UserClaim: "email", GroupsClaim: "roles"}, "e@x", "a,b"},
		{settings.OIDC{GroupsClaim: "roles", GroupFilter: "^b$"}, "p", "b"},
	} {
		id, err := identityOf(c.cfg, "iss", "sub", claims)
		if err != nil || id.Username != c.user || strings.Join(id.Groups, ",") != c.grp {
			t.Errorf("%+v: %+v %v", c.cfg, id, err)
		}
	}
	if _, err := identityOf(settings.OIDC{UserClaim: "missing"}, "iss", "sub", claims); !errors.Is(err, ErrProvider) {
		t.Errorf("missing user claim: %v", err)
	}
	if _, err := identityOf(settings.OIDC{}, "iss", "sub", map[string]any{}); !errors.Is(err, ErrProvider) {
		t.Errorf("no name at all: %v", err)
	}
}

func TestPendingCookie(t *testing.T) {
	c := &Client{FlowKey: bytes.Repeat([]byte("p"), 32)}
	id := &Identity{Issuer: "iss", Subject: "sub", Username: "u", Groups: []string{"g"}}
	cookie := c.SealPending(id, "/next")
	got, redirect, ok := c.OpenPending(cookie)
	if !ok || got.Subject != "sub" || got.Issuer != "iss" || redirect != "/next" || len(got.Groups) != 1 {
		t.Fatalf("OpenPending = %+v %q %v", got, redirect, ok)
	}
	other := &Client{FlowKey: bytes.Repeat([]byte("q"), 32)}
	flowCookie := newFlow("/").seal(c.FlowKey) // a flow cookie is no onboarding cookie
	for name, v := range map[string]string{"other key": other.SealPending(id, "/"), "tampered": "x" + cookie,
		"flow cookie": flowCookie, "empty": ""} {
		if _, _, ok := c.OpenPending(v); ok {
			t.Errorf("%s: opened", name)
		}
	}
}
