// Package oidcop runs an OpenID Connect provider inside a test process,
// on loopback, for berth's OIDC sign-in tests: zitadel/oidc's provider
// (pkg/op) on the in-memory storage of its example server, with users
// given by the test, a groups claim, refresh tokens, and a login form the
// test's HTTP client fills in as a browser would.
//
//	op := oidcop.Start(t, oidcop.Client{ID: "berth", Secret: "s", RedirectURI: berthURL + "/c/oidc/callback"},
//		oidcop.User{ID: "u1", Username: "alice", Password: "pw", Groups: []string{"dev"}})
//	// op.Issuer is the oidc_endpoint; POST op.LoginURL with id, username, password signs in.
package oidcop

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is a user of the provider.
type User struct {
	ID, Username, Password, Email, Name string
	Groups                              []string
}

// Client is the relying party (berth) registered at the provider.
type Client struct {
	ID, Secret, RedirectURI string
}

// Provider is a running provider.
type Provider struct {
	// Issuer is its issuer URL (berth's oidc_endpoint).
	Issuer string
	// Storage is the provider's state: tokens, auth requests.
	Storage *storage.Storage

	mu     sync.Mutex
	issued []string // refresh tokens handed out, in order
	users  users
}

// GroupsClaim is the claim the provider puts the user's groups in.
const GroupsClaim = "groups"

// LoginPath is the provider's login form: GET shows it for an auth
// request (authRequestID), POST with id, username and password signs in.
const LoginPath = "/login/username"

type users map[string]*User

func (u users) GetUserByID(id string) *storage.User {
	if x, ok := u[id]; ok {
		return &storage.User{ID: x.ID, Username: x.Username, Password: x.Password, Email: x.Email, EmailVerified: true,
			FirstName: x.Name, PreferredLanguage: language.English}
	}
	return nil
}

func (u users) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return u.GetUserByID(x.ID)
		}
	}
	return nil
}

func (u users) ExampleClientID() string { return "" }

// claimStorage adds the users' names, e-mail and groups to ID tokens.
type claimStorage struct {
	*storage.Storage
	users users
	p     *Provider
}

func (s *claimStorage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, userID, clientID string, scopes []string) error {
	u, ok := s.users[userID]
	if !ok {
		return fmt.Errorf("user %q not found", userID)
	}
	info.Subject = u.ID
	info.PreferredUsername = u.Username
	info.Name = u.Name
	info.Email = u.Email
	s.p.mu.Lock()
	groups := u.Groups
	s.p.mu.Unlock()
	info.AppendClaims(GroupsClaim, groups)
	return nil
}

// SetGroups changes a user's groups for the ID tokens issued from now on.
func (p *Provider) SetGroups(userID string, groups []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[userID]; ok {
		u.Groups = groups
	}
}

func (s *claimStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	id, refresh, exp, err := s.Storage.CreateAccessAndRefreshTokens(ctx, req, current)
	if err == nil && refresh != "" {
		s.p.mu.Lock()
		s.p.issued = append(s.p.issued, refresh)
		s.p.mu.Unlock()
	}
	return id, refresh, exp, err
}

// RefreshTokens are the refresh tokens the provider has issued.
func (p *Provider) RefreshTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

// Start runs a provider until the test ends.
func Start(t testing.TB, c Client, list ...User) *Provider {
	t.Helper()
	us := users{}
	for i := range list {
		us[list[i].ID] = &list[i]
	}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	st := storage.NewStorageWithClients(us, map[string]*storage.Client{c.ID: storage.WebClient(c.ID, c.Secret, c.RedirectURI)})
	p := &Provider{Issuer: issuer, Storage: st, users: us}
	cs := &claimStorage{Storage: st, users: us, p: p}
	cfg := &op.Config{CryptoKey: sha256.Sum256([]byte("oidcop test")), CodeMethodS256: true, AuthMethodPost: true,
		GrantTypeRefreshToken: true, SupportedUILocales: []language.Tag{language.English}}
	prov, err := op.NewProvider(cfg, cs, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	callback := op.AuthCallbackURL(prov)
	interceptor := op.NewIssuerInterceptor(prov.IssuerFromRequest)
	mux := http.NewServeMux()
	mux.Handle(LoginPath, interceptor.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			id := r.URL.Query().Get("authRequestID")
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<form method="post" action="%s"><input type="hidden" name="id" value="%s">`+
				`<input name="username"><input name="password" type="password"><button>Sign in</button></form>`,
				LoginPath, html.EscapeString(id))
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := r.PostForm.Get("id")
		if err := st.CheckUsernamePassword(r.PostForm.Get("username"), r.PostForm.Get("password"), id); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.Handle("/", prov)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// LoginForm is the form that signs user in to the auth request whose
// login page is at page (the URL the provider redirected to).
func LoginForm(page *url.URL, username, password string) url.Values {
	return url.Values{"id": {page.Query().Get("authRequestID")}, "username": {username}, "password": {password}}
}
