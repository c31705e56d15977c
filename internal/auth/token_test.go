package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

func testKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestExpiredTokenRefused: past its expiry a token gets no more than
// ClockSkew of grace.
func TestExpiredTokenRefused(t *testing.T) {
	key := testKey(t)
	expired := NewTokenService(key, "berth", "berth", -(ClockSkew + 5*time.Second))
	tok, _, err := expired.Issue("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier := NewTokenService(key, "berth", "berth", time.Minute)
	if _, err := verifier.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token expired %s ago: %v, want ErrInvalidToken", ClockSkew+5*time.Second, err)
	}
	recent := NewTokenService(key, "berth", "berth", -time.Second)
	tok, _, _ = recent.Issue("alice", nil)
	if _, err := verifier.Verify(tok); err != nil {
		t.Fatalf("token within the clock skew: %v", err)
	}
}

// TestRevokedTokensRefused: a token stops working when its account is
// revoked, on the instance that revoked it at once (also on the cached
// path), and on another instance sharing the database after a refresh.
func TestRevokedTokensRefused(t *testing.T) {
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	key := testKey(t)
	here, there := &Revocations{Store: st}, &Revocations{Store: st}
	tsHere := NewTokenService(key, "berth", "berth", time.Minute)
	tsHere.Revocations = here
	tsThere := NewTokenService(key, "berth", "berth", time.Minute)
	tsThere.Revocations = there

	tok, _, _ := tsHere.Issue("alice", []Access{{Type: "repository", Name: "p/r", Actions: []string{"pull"}}})
	other, _, _ := tsHere.Issue("bob", nil)
	for _, ts := range []*TokenService{tsHere, tsThere} {
		if _, err := ts.Verify(tok); err != nil { // now cached on both
			t.Fatal(err)
		}
	}
	if err := here.RevokeAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := tsHere.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked token on the revoking instance: %v", err)
	}
	if err := there.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tsThere.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked token on another instance after refresh: %v", err)
	}
	if _, err := tsThere.Verify(other); err != nil {
		t.Fatalf("another account's token: %v", err)
	}
	fresh, _, _ := tsThere.Issue("alice", nil)
	if _, err := tsHere.Verify(fresh); err != nil {
		t.Fatalf("a token issued after the revocation: %v", err)
	}
}
