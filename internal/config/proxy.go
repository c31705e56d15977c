package config

import (
	"flag"
	"fmt"
	"net/url"

	"github.com/berth-registry/berth/internal/forwarded"
)

// Proxy says how clients reach berth: its external URL and the reverse
// proxies whose forwarding headers are believed.
type Proxy struct {
	ExternalURL    string
	TrustedProxies []string
}

func (p *Proxy) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.ExternalURL, "external-url", p.ExternalURL,
		"URL clients use to reach berth, http(s)://HOST[:PORT] (token realm, links; default: derived from loopback or trusted-proxy requests)")
	fs.Var((*stringList)(&p.TrustedProxies), "trusted-proxies",
		"CIDRs or addresses of reverse proxies whose X-Forwarded-For/-Proto/-Host and Forwarded headers are believed (comma-separated; default none)")
}

func (p *Proxy) validate() error {
	if p.ExternalURL != "" {
		u, err := url.Parse(p.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("external-url %q: want http(s)://HOST[:PORT] with no path", p.ExternalURL)
		}
	}
	if _, err := forwarded.ParseProxies(p.TrustedProxies); err != nil {
		return fmt.Errorf("trusted-proxies: %w", err)
	}
	return nil
}
