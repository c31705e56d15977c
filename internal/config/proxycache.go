package config

import (
	"flag"
	"fmt"
	"time"
)

// ProxyCache tunes proxy-cache projects (internal/proxy).
type ProxyCache struct {
	// Timeout bounds each upstream request until its first byte: an
	// uncached reference with the upstream down fails within it.
	Timeout time.Duration
	// Refresh is how often the list of proxy-cache projects is re-read
	// (changes made through another replica).
	Refresh time.Duration
	// TagTTL: a tag the upstream confirmed less than this long ago is
	// served from the cache without asking again (0: always ask).
	TagTTL time.Duration
}

// DefaultProxyCache: 10s, 30s, 5s.
func DefaultProxyCache() ProxyCache {
	return ProxyCache{Timeout: 10 * time.Second, Refresh: 30 * time.Second, TagTTL: 5 * time.Second}
}

func (p *ProxyCache) flags(fs *flag.FlagSet) {
	fs.DurationVar(&p.Timeout, "proxy-cache-timeout", p.Timeout,
		"proxy-cache projects: bound on each upstream request until its first byte (an uncached pull with the upstream down fails within it)")
	fs.DurationVar(&p.Refresh, "proxy-cache-refresh", p.Refresh,
		"proxy-cache projects: how often their list is re-read (projects changed through another replica)")
	fs.DurationVar(&p.TagTTL, "proxy-cache-tag-ttl", p.TagTTL,
		"proxy-cache projects: a tag the upstream confirmed less than this long ago is served without asking it again (0: every pull by tag asks, as Harbor)")
}

func (p *ProxyCache) validate() error {
	if p.Timeout < 100*time.Millisecond || p.Timeout > 10*time.Minute {
		return fmt.Errorf("proxy-cache-timeout %s: want 100ms to 10m", p.Timeout)
	}
	if p.TagTTL < 0 || p.TagTTL > time.Hour {
		return fmt.Errorf("proxy-cache-tag-ttl %s: want 0 to 1h", p.TagTTL)
	}
	if p.Refresh < time.Second {
		return fmt.Errorf("proxy-cache-refresh %s: want at least 1s", p.Refresh)
	}
	return nil
}
