package settings

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestIdentitySettings(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	s := New(store, nil)
	// Without a sealer the search password cannot be stored.
	var ie *InvalidError
	if _, err := s.Update(ctx, raw(LDAPSearchPassword, `"secret"`)); !errors.As(err, &ie) {
		t.Fatalf("unsealed password: %v", err)
	}
	sealer, err := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetSealer(sealer)
	v, err := s.Update(ctx, raw(AuthMode, `"ldap_auth"`, LDAPURL, `"ldaps://dir.example:636"`, LDAPSearchPassword, `"s3cret"`,
		LDAPScope, "1", LDAPVerifyCert, "false", LDAPGroupCacheTTL, "5"))
	if err != nil || v.Identity.AuthMode != LDAPAuth || v.Identity.LDAP.Scope != 1 || v.Identity.LDAP.VerifyCert || v.Identity.LDAP.GroupCacheTTL != 5 {
		t.Fatalf("update: %+v %v", v.Identity, err)
	}
	stored, _ := store.Settings(ctx)
	if strings.Contains(stored[LDAPSearchPassword], "s3cret") || !strings.HasPrefix(stored[LDAPSearchPassword], `"enc:v1:`) {
		t.Fatalf("stored password: %s", stored[LDAPSearchPassword])
	}
	if pw, err := s.SearchPassword(); err != nil || pw != "s3cret" {
		t.Fatalf("SearchPassword: %q %v", pw, err)
	}
	// Another replica with the same key reads it; one with another key cannot.
	other := New(store, nil)
	other.SetSealer(sealer)
	if err := other.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if pw, err := other.SearchPassword(); err != nil || pw != "s3cret" || other.Get().Identity != s.Get().Identity {
		t.Fatalf("replica: %q %v", pw, err)
	}
	wrong, _ := NewSealer([]byte("another key of at least 16 bytes"))
	other.SetSealer(wrong)
	if _, err := other.SearchPassword(); err == nil {
		t.Fatal("opened with the wrong key")
	}
	for k, v := range map[string]string{AuthMode: `"http_auth"`, LDAPURL: `"http://x"`, LDAPScope: "3", LDAPTimeout: "0",
		LDAPUID: `""`, LDAPGroupCacheTTL: "3601", LDAPVerifyCert: `"yes"`} {
		if _, err := s.Update(ctx, raw(k, v)); !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), k+": ") {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if !Secret(LDAPSearchPassword) || Secret(LDAPURL) {
		t.Fatal("Secret")
	}
}
