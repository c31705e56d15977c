package oidc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// FlowTTL is how long a sign-in may take between /c/oidc/login and the
// callback.
const FlowTTL = 10 * time.Minute

// flow is what the browser carries, signed, from the login redirect to
// the callback: nothing is kept on the server, so any replica may take
// the callback.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Redirect string `json:"r"`
	Expires  int64  `json:"e"`
}

func random() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newFlow(redirect string) flow {
	return flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Redirect: redirect,
		Expires: time.Now().Add(FlowTTL).Unix()}
}

func flowMAC(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("oidc-flow\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (f flow) seal(key []byte) string {
	b, _ := json.Marshal(f)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + flowMAC(key, payload)
}

// openFlow verifies a flow cookie's signature and expiry.
func openFlow(key []byte, cookie string) (flow, bool) {
	var f flow
	payload, sig, ok := strings.Cut(cookie, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(sig), []byte(flowMAC(key, payload))) != 1 {
		return f, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &f) != nil || time.Now().Unix() > f.Expires || f.State == "" || f.Nonce == "" {
		return flow{}, false
	}
	return f, true
}

func (f flow) stateMatches(state string) bool {
	return state != "" && subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) == 1
}

func (f flow) nonceMatches(nonce string) bool {
	return nonce != "" && subtle.ConstantTimeCompare([]byte(nonce), []byte(f.Nonce)) == 1
}

// pending is a verified identity waiting for its user to choose a user
// name (oidc_auto_onboard off), signed into a cookie like the flow.
type pending struct {
	ID       Identity `json:"i"`
	Redirect string   `json:"r"`
	Expires  int64    `json:"e"`
}

// SealPending returns the onboarding cookie of a verified identity: it
// lives FlowTTL.
func (c *Client) SealPending(id *Identity, redirect string) string {
	b, _ := json.Marshal(pending{ID: *id, Redirect: redirect, Expires: time.Now().Add(FlowTTL).Unix()})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + pendingMAC(c.FlowKey, payload)
}

// OpenPending verifies an onboarding cookie.
func (c *Client) OpenPending(cookie string) (*Identity, string, bool) {
	payload, sig, ok := strings.Cut(cookie, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(sig), []byte(pendingMAC(c.FlowKey, payload))) != 1 {
		return nil, "", false
	}
	var p pending
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &p) != nil || time.Now().Unix() > p.Expires || p.ID.Subject == "" {
		return nil, "", false
	}
	return &p.ID, p.Redirect, true
}

func pendingMAC(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("oidc-onboard\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
