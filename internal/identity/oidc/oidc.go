// Package oidc signs users in with an OpenID Connect provider (Harbor's
// oidc_auth): the authorization code flow with PKCE, whose state, nonce
// and code verifier travel in a signed, short-lived cookie; the ID token's
// verification; and onboarding: the user named by the configured claim is
// created on first sign-in, is a system administrator while in the admin
// group, and is found again by issuer and subject afterwards.
package oidc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// Errors of the sign-in flow. Each is safe to show to the user.
var (
	ErrNotConfigured = errors.New("OIDC sign-in is not configured")
	// ErrFlow: the callback does not belong to a sign-in begun here (no or
	// a forged flow cookie, another state, an expired flow) or the ID
	// token does not carry its nonce.
	ErrFlow = errors.New("the sign-in could not be verified: start again")
	// ErrNotOnboarded: the identity has no user here and automatic
	// onboarding is off.
	ErrNotOnboarded = errors.New("this identity has no account on this registry and automatic onboarding is off: ask an administrator")
	// ErrProvider: the provider refused, or could not be reached.
	ErrProvider = errors.New("the identity provider refused the sign-in or could not be reached")
)

// Timeout bounds every request to the provider.
const Timeout = 10 * time.Second

// providerTTL is how long a provider's discovery document is reused.
const providerTTL = time.Hour

// Client runs the flow against the configured provider.
type Client struct {
	// Settings gives the current OIDC settings.
	Settings func() settings.OIDC
	// Secret gives the client secret in clear (Settings.OIDCClientSecret).
	Secret func() (string, error)
	// Store holds users and their links.
	Store meta.AccessStore
	// FlowKey signs the flow cookie (at least 32 bytes).
	FlowKey []byte

	mu        sync.Mutex
	providers map[providerKey]cachedProvider
}

type providerKey struct {
	endpoint string
	verify   bool
}

type cachedProvider struct {
	p       *gooidc.Provider
	client  *http.Client
	fetched time.Time
}

// HTTPClient is the client used to reach a provider: bounded in time, and
// without certificate checks when verify is false (oidc_verify_cert).
func HTTPClient(verify bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !verify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the administrator's choice
	}
	return &http.Client{Timeout: Timeout, Transport: tr}
}

// provider returns the discovered provider of cfg, cached for providerTTL.
func (c *Client) provider(ctx context.Context, cfg settings.OIDC) (*gooidc.Provider, *http.Client, error) {
	if cfg.Endpoint == "" || cfg.ClientID == "" {
		return nil, nil, ErrNotConfigured
	}
	key := providerKey{strings.TrimSuffix(cfg.Endpoint, "/"), cfg.VerifyCert}
	c.mu.Lock()
	cp, ok := c.providers[key]
	c.mu.Unlock()
	if ok && time.Since(cp.fetched) < providerTTL {
		return cp.p, cp.client, nil
	}
	client := HTTPClient(cfg.VerifyCert)
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), cfg.Endpoint)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: discovery of %s: %v", ErrProvider, cfg.Endpoint, err)
	}
	c.mu.Lock()
	if c.providers == nil || len(c.providers) > 16 {
		c.providers = map[providerKey]cachedProvider{}
	}
	c.providers[key] = cachedProvider{p: p, client: client, fetched: time.Now()}
	c.mu.Unlock()
	return p, client, nil
}

// oauthConfig is the OAuth2 client of cfg with callback as redirect URI.
func (c *Client) oauthConfig(p *gooidc.Provider, cfg settings.OIDC, callback string) (*oauth2.Config, error) {
	secret, err := c.Secret()
	if err != nil {
		return nil, fmt.Errorf("oidc_client_secret: %w", err)
	}
	return &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: secret, Endpoint: p.Endpoint(),
		RedirectURL: callback, Scopes: cfg.Scopes()}, nil
}

// Begin starts a sign-in: it returns the provider's authorization URL to
// send the browser to and the flow cookie's value. callback is berth's
// /c/oidc/callback URL; redirect is where the browser goes once signed in.
func (c *Client) Begin(ctx context.Context, callback, redirect string) (authURL, cookie string, err error) {
	cfg := c.Settings()
	p, _, err := c.provider(ctx, cfg)
	if err != nil {
		return "", "", err
	}
	oc, err := c.oauthConfig(p, cfg, callback)
	if err != nil {
		return "", "", err
	}
	f := newFlow(redirect)
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	for k, v := range cfg.ExtraParams() {
		switch k {
		case "state", "nonce", "code_challenge", "code_challenge_method", "redirect_uri", "client_id", "response_type", "scope":
			continue // the flow's own: not to be overridden
		}
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return oc.AuthCodeURL(f.State, opts...), f.seal(c.FlowKey), nil
}

// Identity is who the provider says signed in.
type Identity struct {
	Issuer, Subject string
	// Username is the value of the user claim (oidc_user_claim, else
	// preferred_username, name or email).
	Username string
	Email    string
	Name     string
	// Groups is the groups claim, filtered by oidc_group_filter.
	Groups []string
}

// Finish completes a sign-in at the callback: cookie is the flow cookie,
// state and code the callback's parameters. It returns the verified
// identity and where the browser is to go.
func (c *Client) Finish(ctx context.Context, callback, cookie, state, code string) (*Identity, string, error) {
	f, ok := openFlow(c.FlowKey, cookie)
	if !ok || !f.stateMatches(state) || code == "" {
		return nil, "", ErrFlow
	}
	cfg := c.Settings()
	p, client, err := c.provider(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	oc, err := c.oauthConfig(p, cfg, callback)
	if err != nil {
		return nil, "", err
	}
	tok, err := oc.Exchange(context.WithValue(ctx, oauth2.HTTPClient, client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, "", fmt.Errorf("%w: code exchange: %v", ErrProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "", fmt.Errorf("%w: no id_token in the token response", ErrProvider)
	}
	idt, err := p.Verifier(&gooidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return nil, "", fmt.Errorf("%w: the ID token: %v", ErrFlow, err)
	}
	if !f.nonceMatches(idt.Nonce) {
		return nil, "", ErrFlow
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, "", fmt.Errorf("%w: the ID token's claims: %v", ErrProvider, err)
	}
	id, err := identityOf(cfg, idt.Issuer, idt.Subject, claims)
	return id, f.Redirect, err
}

// Ping checks that url is an OpenID provider: its discovery document is
// served and names it as issuer.
func Ping(ctx context.Context, url string, verifyCert bool) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	_, err := gooidc.NewProvider(gooidc.ClientContext(ctx, HTTPClient(verifyCert)), url)
	return err
}
