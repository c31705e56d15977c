package catalog

import "testing"

// TestThirdPartyRPM: Trivy's vendor test.
func TestThirdPartyRPM(t *testing.T) {
	for _, c := range []struct {
		vendor, release string
		want            bool
	}{
		{"CentOS", "1.el8", false}, {"Red Hat, Inc.", "1.el9", false}, {"Amazon Linux", "1.amzn1", false},
		{"", "34.amzn2", false}, {"", "1.el8", true}, {"Docker", "1.el8", true}, {"NVIDIA Corporation", "1", true},
	} {
		if got := thirdPartyRPM(c.vendor, c.release); got != c.want {
			t.Errorf("thirdPartyRPM(%q, %q) = %v", c.vendor, c.release, got)
		}
	}
}

// TestStdlibVersion: the toolchain of a Go binary is listed as Trivy lists
// it, without the GOEXPERIMENT suffix in either of its forms.
func TestStdlibVersion(t *testing.T) {
	for in, want := range map[string]string{
		"go1.26.8":                "v1.26.8",
		"go1.26.8-X:jsonv2":       "v1.26.8", // Go 1.26 on (trivy itself is built so)
		"go1.22.3 X:boringcrypto": "v1.22.3",
		"":                        "",
	} {
		if got := stdlibVersion(in); got != want {
			t.Errorf("stdlibVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
