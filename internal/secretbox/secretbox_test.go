package secretbox

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s := b.Seal("oidc_client_secret", "s3cret")
	if !Sealed(s) || strings.Contains(s, "s3cret") {
		t.Fatalf("sealed form %q", s)
	}
	if s2 := b.Seal("oidc_client_secret", "s3cret"); s2 == s {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if got, err := b.Open("oidc_client_secret", s); err != nil || got != "s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if got, err := b.Open("x", ""); err != nil || got != "" {
		t.Fatalf("Open(empty) = %q, %v", got, err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, 32))
	tampered := s[:len(s)-2] + "AA"
	for name, c := range map[string]struct {
		box     *Box
		name, v string
	}{
		"other name": {b, "ldap_search_password", s},
		"other key":  {other, "oidc_client_secret", s},
		"tampered":   {b, "oidc_client_secret", tampered},
		"plain":      {b, "oidc_client_secret", "s3cret"},
		"short":      {b, "oidc_client_secret", prefix + "AA"},
	} {
		if _, err := c.box.Open(c.name, c.v); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open err = %v, want ErrOpen", name, err)
		}
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("New accepted a short key")
	}
}
