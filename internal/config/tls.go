package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strings"
)

// LetsEncryptDirectory is the default ACME directory (Let's Encrypt production).
const LetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// TLS is how the main listener speaks HTTPS: certificate files, ACME, or
// neither (plain HTTP, the default for loopback and development).
type TLS struct {
	TLSCert       string   // PEM certificate chain; reloaded when the file changes
	TLSKey        string   // PEM private key for TLSCert
	ACMEDomains   []string // obtain certificates for these names with ACME
	ACMEEmail     string   // contact address given to the ACME server
	ACMEDirectory string   // ACME directory URL
	ACMECARoot    string   // extra PEM CA bundle trusted for the ACME server's HTTPS
	ACMEHTTPAddr  string   // HTTP-01 challenges and redirects to HTTPS; "" turns it off
}

// DefaultTLS is plain HTTP, with Let's Encrypt ready when a domain is given.
func DefaultTLS() TLS {
	return TLS{ACMEDirectory: LetsEncryptDirectory, ACMEHTTPAddr: ":80"}
}

// stringList is a flag that may be repeated and takes comma-separated values.
type stringList []string

func (s *stringList) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func (t *TLS) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.TLSCert, "tls-cert", t.TLSCert, "serve HTTPS with this PEM certificate (chain) file; reloaded when it changes or on SIGHUP")
	fs.StringVar(&t.TLSKey, "tls-key", t.TLSKey, "PEM private key file for --tls-cert")
	fs.Var((*stringList)(&t.ACMEDomains), "acme-domain", "serve HTTPS with certificates obtained by ACME for this domain (repeatable or comma-separated)")
	fs.StringVar(&t.ACMEEmail, "acme-email", t.ACMEEmail, "contact e-mail for the ACME account")
	fs.StringVar(&t.ACMEDirectory, "acme-directory", t.ACMEDirectory, "ACME directory URL")
	fs.StringVar(&t.ACMECARoot, "acme-ca-root", t.ACMECARoot, "extra PEM CA bundle to trust for the ACME server's HTTPS (private or test CA)")
	fs.StringVar(&t.ACMEHTTPAddr, "acme-http-addr", t.ACMEHTTPAddr, `listener for ACME HTTP-01 challenges that redirects everything else to HTTPS ("" turns it off: TLS-ALPN-01 on the main listener only)`)
}

// validate names the first bad TLS or ACME setting.
func (t *TLS) validate() error {
	if t.TLSCert != "" && len(t.ACMEDomains) > 0 {
		return errors.New("tls-cert and acme-domain: choose certificate files or ACME, not both")
	}
	if t.TLSCert != "" && t.TLSKey == "" {
		return errors.New("tls-key: required with tls-cert")
	}
	if t.TLSKey != "" && t.TLSCert == "" {
		return errors.New("tls-cert: required with tls-key")
	}
	for _, f := range [][2]string{{"tls-cert", t.TLSCert}, {"tls-key", t.TLSKey}, {"acme-ca-root", t.ACMECARoot}} {
		if f[1] != "" {
			if _, err := os.Stat(f[1]); err != nil {
				return fmt.Errorf("%s: %w", f[0], err)
			}
		}
	}
	if len(t.ACMEDomains) == 0 {
		if t.ACMEEmail != "" {
			return errors.New("acme-email: set without acme-domain")
		}
		if t.ACMECARoot != "" {
			return errors.New("acme-ca-root: set without acme-domain")
		}
		return nil
	}
	for _, d := range t.ACMEDomains {
		if err := checkDomain(d); err != nil {
			return fmt.Errorf("acme-domain %q: %w", d, err)
		}
	}
	if t.ACMEEmail != "" {
		if a, err := mail.ParseAddress(t.ACMEEmail); err != nil || a.Address != t.ACMEEmail {
			return fmt.Errorf("acme-email %q: want a plain address like ops@example.com", t.ACMEEmail)
		}
	}
	if u, err := url.Parse(t.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("acme-directory %q: want an https:// URL", t.ACMEDirectory)
	}
	if t.ACMEHTTPAddr != "" {
		if _, _, err := net.SplitHostPort(t.ACMEHTTPAddr); err != nil {
			return fmt.Errorf("acme-http-addr %q: %w", t.ACMEHTTPAddr, err)
		}
	}
	return nil
}

// checkDomain accepts a plain DNS name with at least two labels: no
// wildcard (ACME issues those only with DNS-01), port, scheme or IP address.
func checkDomain(d string) error {
	if net.ParseIP(d) != nil {
		return errors.New("an IP address, want a DNS name")
	}
	if len(d) > 253 || !strings.Contains(strings.Trim(d, "."), ".") {
		return errors.New("want a DNS name like registry.example.com")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("bad label %q", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("character %q not allowed (wildcards, ports and URLs are not domains)", r)
			}
		}
	}
	return nil
}
