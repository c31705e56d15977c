package catalog

import "testing"

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
