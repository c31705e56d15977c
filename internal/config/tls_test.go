package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTLSDefaultsArePlainHTTP(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSCert != "" || c.TLSKey != "" || len(c.ACMEDomains) != 0 {
		t.Fatalf("TLS must be off by default: %+v", c.TLS)
	}
	if c.ACMEDirectory != LetsEncryptDirectory || c.ACMEHTTPAddr != ":80" {
		t.Fatalf("ACME defaults: %+v", c.TLS)
	}
}

func TestACMEDomainList(t *testing.T) {
	// Repeated and comma-separated flags add up; flags beat the environment.
	c, err := load(t, []string{"--acme-domain", "a.example.com,b.example.com", "--acme-domain", "c.example.com"},
		map[string]string{"BERTH_ACME_DOMAIN": "env.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.example.com", "b.example.com", "c.example.com"}; !slices.Equal(c.ACMEDomains, want) {
		t.Fatalf("flags: %q, want %q", c.ACMEDomains, want)
	}
	c, err = load(t, nil, map[string]string{"BERTH_ACME_DOMAIN": "a.example.com, b.example.com", "BERTH_ACME_EMAIL": "ops@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.example.com", "b.example.com"}; !slices.Equal(c.ACMEDomains, want) || c.ACMEEmail != "ops@example.com" {
		t.Fatalf("env: %+v", c.TLS)
	}
	// The JSON file takes a list or a string.
	file := filepath.Join(t.TempDir(), "berth.json")
	if err := os.WriteFile(file, []byte(`{"acme-domain":["a.example.com","b.example.com"],"acme-http-addr":""}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.example.com", "b.example.com"}; !slices.Equal(c.ACMEDomains, want) || c.ACMEHTTPAddr != "" {
		t.Fatalf("file: %+v", c.TLS)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	for _, f := range []string{certFile, keyFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err = load(t, []string{"--tls-cert", certFile, "--tls-key", keyFile}, nil)
	if err != nil || c.TLSCert != certFile || c.TLSKey != keyFile {
		t.Fatalf("tls files: %+v %v", c.TLS, err)
	}
	if c, err = load(t, []string{"--acme-domain", "a.example.com", "--acme-http-addr", ""}, nil); err != nil || c.ACMEHTTPAddr != "" {
		t.Fatalf("--acme-http-addr \"\" must turn HTTP-01 off: %q %v", c.ACMEHTTPAddr, err)
	}
}

func TestTLSInvalidNamesTheField(t *testing.T) {
	cases := map[string][]string{
		"tls-key":                             {"--tls-cert", "c.pem"},
		"tls-cert":                            {"--tls-key", "k.pem"},
		"tls-cert and acme-domain":            {"--tls-cert", "c.pem", "--tls-key", "k.pem", "--acme-domain", "a.example.com"},
		`acme-domain "*.example.com"`:         {"--acme-domain", "*.example.com"},
		`acme-domain "10.0.0.1"`:              {"--acme-domain", "10.0.0.1"},
		`acme-domain "localhost"`:             {"--acme-domain", "localhost"},
		`acme-domain "https://a.example.com"`: {"--acme-domain", "https://a.example.com"},
		`acme-domain "a.example.com:443"`:     {"--acme-domain", "a.example.com:443"},
		"acme-email":                          {"--acme-domain", "a.example.com", "--acme-email", "nope"},
		"acme-directory":                      {"--acme-domain", "a.example.com", "--acme-directory", "http://acme.example.com/dir"},
		"acme-http-addr":                      {"--acme-domain", "a.example.com", "--acme-http-addr", "80"},
		"acme-ca-root: set without":           {"--acme-ca-root", "tls_test.go"},
		"tls-cert: stat":                      {"--tls-cert", "missing-c.pem", "--tls-key", "missing-k.pem"},
		"acme-ca-root: stat":                  {"--acme-domain", "a.example.com", "--acme-ca-root", "missing-ca.pem"},
	}
	for field, args := range cases {
		_, err := load(t, args, nil)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want it to name the field", field, err)
		}
	}
	if _, err := load(t, nil, map[string]string{"BERTH_ACME_EMAIL": "ops@example.com"}); err == nil ||
		!strings.Contains(err.Error(), "acme-email") {
		t.Errorf("acme-email without acme-domain: %v", err)
	}
}
