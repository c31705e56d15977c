package oci

import (
	"regexp"
	"strings"
	"testing"
)

// specName is the distribution spec's grammar, used as the oracle for the
// hand-written ValidName.
var specName = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

var specTag = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

func TestValidName(t *testing.T) {
	cases := map[string]bool{
		"a": true, "library/alpine": true, "a/b/c/d": true, "a.b": true, "a_b": true, "a__b": true,
		"a---b": true, "dev/team-x/app_1.2": true, "0": true,
		"": false, "A": false, "a/": false, "/a": false, "a//b": false, "a___b": false, "a.-b": false,
		"a..b": false, "-a": false, "a-": false, "a/../b": false, "..": false, "a/./b": false,
		"a b": false, "a:b": false, "a%2fb": false, "ä": false, "a\x00": false,
		strings.Repeat("a", MaxNameLength):   true,
		strings.Repeat("a", MaxNameLength+1): false,
		"conformance/repo1":                  true,
		"a/manifests/b":                      true,
	}
	for in, want := range cases {
		if got := ValidName(in); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestValidTag(t *testing.T) {
	cases := map[string]bool{
		"latest": true, "v1.0.0": true, "_x": true, "1": true, "A-b.c_d": true,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
		"": false, ".x": false, "-x": false, "a:b": false, "a/b": false, "a b": false, "sha256:abc": false,
	}
	for in, want := range cases {
		if got := ValidTag(in); got != want {
			t.Errorf("ValidTag(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "a__b", "a___b", "a-.b", "a/../b", "library/alpine", "x.y_z--w/v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) <= MaxNameLength && specName.MatchString(s)
		if got := ValidName(s); got != want {
			t.Fatalf("ValidName(%q) = %v, spec grammar says %v", s, got, want)
		}
	})
}

func FuzzValidTag(f *testing.F) {
	for _, s := range []string{"latest", "_", ".a", "a.b-c_d", "sha256:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTag(s), specTag.MatchString(s); got != want {
			t.Fatalf("ValidTag(%q) = %v, spec grammar says %v", s, got, want)
		}
	})
}
