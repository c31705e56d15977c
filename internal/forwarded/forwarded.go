// Package forwarded works out who a request really came from and how the
// client reached berth when it stands behind reverse proxies: the client
// address from X-Forwarded-For or Forwarded, the scheme from
// X-Forwarded-Proto, and the host from X-Forwarded-Host — but only when the
// direct peer is a proxy the operator listed as trusted. Anyone else could
// write those headers to pose as another address (and escape the login
// limiter) or to steer the token realm.
package forwarded

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of networks whose forwarding headers are believed.
// The zero value trusts nobody.
type Proxies struct {
	nets []netip.Prefix
}

// ParseProxies parses CIDRs or single addresses ("10.0.0.0/8", "::1").
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q: not an address or CIDR", s)
			}
			p.nets = append(p.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxy %q: %v", s, err)
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		p.nets = append(p.nets, pfx.Masked())
	}
	return p, nil
}

// Trusts reports whether a is inside a trusted network.
func (p Proxies) Trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// info is what the middleware learned about a request.
type info struct {
	scheme string // "http" or "https" as the client used it
	// hostTrusted: r.Host was set by someone we trust (a trusted proxy,
	// or a client on loopback), so it may be used to build URLs.
	hostTrusted bool
}

type ctxKey struct{}

// Middleware rewrites r.RemoteAddr to the client's address and records the
// external scheme when the peer is a trusted proxy. It runs first, so the
// access log, the limiter and the audit log all see the client.
func Middleware(next http.Handler, p Proxies) http.Handler {
	if len(p.nets) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, ok := addrOf(r.RemoteAddr)
		if !ok || !p.Trusts(peer) {
			// Nothing to record: fromRequest works it out from the
			// request itself, and the hot path allocates nothing here.
			next.ServeHTTP(w, r)
			return
		}
		in := info{scheme: "http", hostTrusted: true}
		if r.TLS != nil {
			in.scheme = "https"
		}
		if client, found := clientAddr(r.Header, p); found {
			r.RemoteAddr = net.JoinHostPort(client.String(), "0")
		}
		if s := proto(r.Header); s != "" {
			in.scheme = s
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" && validHost(h) {
			r.Host = h
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, in)))
	})
}

func fromRequest(r *http.Request) info {
	if in, ok := r.Context().Value(ctxKey{}).(info); ok {
		return in
	}
	in := info{scheme: "http"}
	if r.TLS != nil {
		in.scheme = "https"
	}
	peer, ok := addrOf(r.RemoteAddr)
	in.hostTrusted = ok && peer.IsLoopback()
	return in
}

// Scheme is "https" when the client reached berth over TLS (directly or at
// a trusted proxy), else "http".
func Scheme(r *http.Request) string { return fromRequest(r).scheme }

// Secure reports whether the client's connection is HTTPS: cookies get
// the Secure attribute then.
func Secure(r *http.Request) bool { return Scheme(r) == "https" }

// BaseURL is the URL clients use to reach berth, without a trailing slash:
// external (--external-url) when set; else built from the request's Host
// when that header can be trusted (a trusted proxy set it, or the client
// is on loopback); else from the local address the client connected to,
// which a client cannot forge.
func BaseURL(r *http.Request, external string) string {
	if external != "" {
		return strings.TrimRight(external, "/")
	}
	in := fromRequest(r)
	if in.hostTrusted && r.Host != "" {
		return in.scheme + "://" + r.Host
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return in.scheme + "://" + a.String()
	}
	return in.scheme + "://" + r.Host
}

// clientAddr walks X-Forwarded-For from the right (the hop nearest to us)
// and returns the first address that is not a trusted proxy: entries to its
// left were written by the client and prove nothing. Forwarded (RFC 7239)
// is used when X-Forwarded-For is absent.
func clientAddr(h http.Header, p Proxies) (netip.Addr, bool) {
	hops := splitList(h.Values("X-Forwarded-For"))
	if len(hops) == 0 {
		for _, el := range splitList(h.Values("Forwarded")) {
			for _, pair := range strings.Split(el, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hops = append(hops, strings.Trim(v, `"`))
				}
			}
		}
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := addrOf(hops[i])
		if !ok {
			break // garbage: stop at the last hop we could read
		}
		last = a
		if !p.Trusts(a) {
			return a, true
		}
	}
	return last, last.IsValid()
}

// proto returns the scheme a trusted proxy reports: the first value of
// X-Forwarded-Proto (the edge proxy's), or Forwarded's proto=.
func proto(h http.Header) string {
	v := strings.ToLower(firstValue(h.Get("X-Forwarded-Proto")))
	if els := splitList(h.Values("Forwarded")); v == "" && len(els) > 0 {
		for _, pair := range strings.Split(els[0], ";") { // the edge proxy's element
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(k, "proto") {
				v = strings.ToLower(strings.Trim(val, `"`))
			}
		}
	}
	if v == "http" || v == "https" {
		return v
	}
	return ""
}

func firstValue(s string) string {
	first, _, _ := strings.Cut(s, ",")
	return strings.TrimSpace(first)
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// addrOf parses "1.2.3.4", "1.2.3.4:5", "[::1]:5" or "[::1]".
func addrOf(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// validHost accepts a host[:port] of plain characters, so a forwarded host
// cannot smuggle a path or header into URLs built from it.
func validHost(h string) bool {
	if len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
