package forwarded

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// seen runs a request through the middleware and returns what the
// handler saw.
func seen(t *testing.T, p Proxies, remote string, hdr map[string]string) (addr, scheme, base string) {
	t.Helper()
	r := httptest.NewRequest("GET", "/v2/", nil)
	r.RemoteAddr = remote
	r.Host = "registry.example:5000"
	local := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(local)))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		addr, scheme, base = r.RemoteAddr, Scheme(r), BaseURL(r, "")
	}), p).ServeHTTP(httptest.NewRecorder(), r)
	return
}

func TestMiddleware(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		hdr          map[string]string
		addr, scheme string
		base         string
	}{
		{"untrusted peer: headers ignored", "198.51.100.1:999",
			map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
			"198.51.100.1:999", "http", "http://192.0.2.1:5000"},
		{"trusted proxy: client from XFF", "10.1.2.3:999",
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
			"203.0.113.9:0", "https", "https://registry.example:5000"},
		{"rightmost untrusted hop wins over a forged left entry", "10.1.2.3:999",
			map[string]string{"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.9.9.9"},
			"203.0.113.9:0", "http", "http://registry.example:5000"},
		{"Forwarded header", "[::1]:999",
			map[string]string{"Forwarded": `for="[2001:db8::7]:1234";proto=https`},
			"[2001:db8::7]:0", "https", "https://registry.example:5000"},
		{"X-Forwarded-Host from a trusted proxy", "10.1.2.3:999",
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "reg.example.com"},
			"203.0.113.9:0", "http", "http://reg.example.com"},
		{"a forwarded host with a path is ignored", "10.1.2.3:999",
			map[string]string{"X-Forwarded-Host": "evil.example/x"},
			"10.1.2.3:999", "http", "http://registry.example:5000"},
		{"loopback client: Host is used", "127.0.0.1:999", nil,
			"127.0.0.1:999", "http", "http://registry.example:5000"},
		{"bad proto ignored", "10.1.2.3:999", map[string]string{"X-Forwarded-Proto": "javascript"},
			"10.1.2.3:999", "http", "http://registry.example:5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, scheme, base := seen(t, p, tc.remote, tc.hdr)
			if addr != tc.addr || scheme != tc.scheme || base != tc.base {
				t.Fatalf("got %s %s %s, want %s %s %s", addr, scheme, base, tc.addr, tc.scheme, tc.base)
			}
		})
	}
}

func TestBaseURLExternal(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "evil.example"
	if got := BaseURL(r, "https://reg.example.com/"); got != "https://reg.example.com" {
		t.Fatal(got)
	}
}

func TestParseProxies(t *testing.T) {
	for _, bad := range []string{"x", "10.0.0.0/33", "1.2.3.4/"} {
		if _, err := ParseProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	p, err := ParseProxies([]string{"192.0.2.0/24", " 2001:db8::1 "})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Trusts(mustAddr("192.0.2.77")) || !p.Trusts(mustAddr("::ffff:192.0.2.77")) || !p.Trusts(mustAddr("2001:db8::1")) ||
		p.Trusts(mustAddr("192.0.3.1")) {
		t.Fatal("Trusts wrong")
	}
}

func mustAddr(s string) netip.Addr {
	a, _ := addrOf(s)
	return a
}
