package oci

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestParseDigest(t *testing.T) {
	h64, h128 := strings.Repeat("a", 64), strings.Repeat("0", 128)
	good := []string{"sha256:" + h64, "sha512:" + h128, string(EmptySHA256)}
	bad := []string{"", "sha256", "sha256:", "sha256:" + h64[:63], "sha256:" + h64 + "a", "sha256:" + strings.ToUpper(h64),
		"sha512:" + h64, "sha384:" + strings.Repeat("a", 96), "md5:d41d8cd98f00b204e9800998ecf8427e", "SHA256:" + h64,
		"sha256:../../../../etc/passwd", "sha256:" + h64[:62] + "/x", ":" + h64, "sha256::" + h64}
	for _, s := range good {
		if d, err := ParseDigest(s); err != nil || string(d) != s {
			t.Errorf("ParseDigest(%q) = %q, %v; want it accepted", s, d, err)
		}
	}
	for _, s := range bad {
		if _, err := ParseDigest(s); err == nil {
			t.Errorf("ParseDigest(%q) accepted, want ErrDigestInvalid", s)
		}
	}
}

func TestIsDigest(t *testing.T) {
	if !IsDigest("sha256:x") || IsDigest("latest") {
		t.Fatal("IsDigest must decide on the colon")
	}
}

func TestNewHash(t *testing.T) {
	for _, alg := range []digest.Algorithm{SHA256, SHA512} {
		h, err := NewHash(alg)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte("abc"))
		if got, want := digest.NewDigest(alg, h), alg.FromString("abc"); got != want {
			t.Errorf("%s: got %s want %s", alg, got, want)
		}
	}
	if _, err := NewHash("sha384"); err == nil {
		t.Error("sha384 must be refused")
	}
}

// FuzzParseDigest checks ParseDigest against go-digest's own validation,
// restricted to the two algorithms we accept.
func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("a", 64))
	f.Add("sha512:" + strings.Repeat("f", 128))
	f.Add("sha384:" + strings.Repeat("a", 96))
	f.Add("sha256:../x")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseDigest(s)
		d, refErr := digest.Parse(s)
		want := refErr == nil && (d.Algorithm() == SHA256 || d.Algorithm() == SHA512)
		if (err == nil) != want {
			t.Fatalf("ParseDigest(%q) err=%v, go-digest err=%v", s, err, refErr)
		}
	})
}

func BenchmarkParseDigest(b *testing.B) {
	s := "sha256:" + strings.Repeat("ab", 32)
	for b.Loop() {
		if _, err := ParseDigest(s); err != nil {
			b.Fatal(err)
		}
	}
}
