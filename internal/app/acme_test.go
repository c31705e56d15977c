package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/berth-registry/berth/internal/config"
)

// acmeDomain is the name berth gets a certificate for. Pebble resolves it
// through dnsServer, which answers 127.0.0.1.
const acmeDomain = "berth.test"

// pebbleBinary finds pebble where scripts/install-test-tools.sh puts it.
func pebbleBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BERTH_TOOLS_DIR")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "berth-tools")
		}
	}
	if p := filepath.Join(dir, "bin", "pebble"); dir != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	msg := "pebble (ACME test server) not installed: run scripts/install-test-tools.sh go"
	if os.Getenv("BERTH_E2E_REQUIRE") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a loopback port that was free a moment ago, for a
// server started later. It is drawn below Linux's ephemeral range
// (32768–60999): a port from "127.0.0.1:0" could be handed to any other
// test's listener or connection in the meantime (seen in make test:
// "bind: address already in use" for --acme-http-addr).
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 20000 + mathrand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no free loopback port in 20000–31999")
	return 0
}

// dnsServer answers DNS over TCP (what pebble's -dnsserver uses) on
// 127.0.0.1: A acmeDomain is 127.0.0.1, AAAA has no records, every other
// name does not exist.
func dnsServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				for i := 0; i < 16; i++ {
					_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
					var n uint16
					if binary.Read(conn, binary.BigEndian, &n) != nil {
						return
					}
					q := make([]byte, n)
					if _, err := io.ReadFull(conn, q); err != nil {
						return
					}
					a, err := dnsAnswer(q)
					if err != nil {
						return
					}
					if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dnsAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	known := strings.EqualFold(q.Name.String(), acmeDomain+".")
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if known && q.Type == dnsmessage.TypeA {
		err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pebble is a running ACME server with its own HTTPS certificate from ca.
type pebble struct {
	dirURL string
	root   *x509.CertPool // pebble's issuing root, fetched from its management port
	log    *syncBuffer
	stop   func()
}

// startPebble runs pebble on 127.0.0.1:port, validating http-01 on httpPort
// and tls-alpn-01 on tlsPort of the addresses dns gives.
func startPebble(t *testing.T, bin string, ca *testCA, dns string, port, httpPort, tlsPort int) *pebble {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := ca.issue(t, 100)
	writeFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             filepath.Join(dir, "cert.pem"),
		"privateKey":              filepath.Join(dir, "key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"keyAlgorithm":            "ecdsa",
	}}
	b, _ := json.Marshal(conf)
	writeFile(t, filepath.Join(dir, "pebble.json"), b)

	out := &syncBuffer{}
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", dns)
	// Real validation, without random sleeps or injected bad nonces.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_VA_ALWAYS_VALID=0")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	stopped := false
	p := &pebble{dirURL: "https://" + listen + "/dir", log: out, stop: func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			<-waited
		}
	}}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := client.Get(p.dirURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-waited:
			t.Fatalf("pebble exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not ready in 20s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := client.Get("https://" + mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(res.Body)
	res.Body.Close()
	p.root = x509.NewCertPool()
	if res.StatusCode != 200 || !p.root.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble root: %d %q", res.StatusCode, rootPEM)
	}
	return p
}

// getV2 does GET https://berth.test:PORT/v2/ against addr, trusting only
// root, and returns the certificate berth presented.
func getV2(t *testing.T, addr string, root *x509.CertPool) *x509.Certificate {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	d := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
		TLSClientConfig:   &tls.Config{RootCAs: root, ServerName: acmeDomain},
		DisableKeepAlives: true,
	}}
	res, err := client.Get("https://" + net.JoinHostPort(acmeDomain, port) + "/v2/")
	if err != nil {
		t.Fatalf("GET /v2/ over HTTPS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || len(res.TLS.VerifiedChains) == 0 {
		t.Fatalf("GET /v2/ over HTTPS: %d %+v", res.StatusCode, res.TLS)
	}
	return res.TLS.PeerCertificates[0]
}

// TestACMEWithPebble gets a certificate for berth.test from a real ACME
// server (pebble) that really validates the challenge against berth:
// TLS-ALPN-01 on the main listener, or HTTP-01 on --acme-http-addr when
// TLS-ALPN-01 cannot reach berth. The certificate is cached in DATA/acme,
// and a restart serves it with the ACME server gone.
func TestACMEWithPebble(t *testing.T) {
	bin := pebbleBinary(t)
	ca := newTestCA(t)
	caFile := filepath.Join(t.TempDir(), "acme-ca.pem")
	writeFile(t, caFile, ca.pem)
	dns := dnsServer(t)

	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			closedPort := freePort(t) // nothing listens here: the other challenge type fails
			cfg := config.Default()
			cfg.Auth.Enabled = false // these tests are about TLS, not access control
			cfg.Addr = "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			cfg.ACMEDomains = []string{acmeDomain}
			cfg.ACMEEmail = "ops@" + acmeDomain
			cfg.ACMECARoot = caFile
			cfg.ACMEHTTPAddr = ""
			httpPort := closedPort
			if challenge == "http-01" {
				httpPort = freePort(t)
				cfg.ACMEHTTPAddr = fmt.Sprintf("127.0.0.1:%d", httpPort)
			}
			// Pebble's directory URL must be known before berth starts,
			// and berth's port before pebble starts: pick pebble's first.
			pebblePort := freePort(t)
			cfg.ACMEDirectory = fmt.Sprintf("https://127.0.0.1:%d/dir", pebblePort)
			addr, stop := startApp(t, cfg)
			defer stop()
			berthPort, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
			tlsPort := berthPort
			if challenge == "http-01" {
				tlsPort = closedPort
			}
			p := startPebble(t, bin, ca, dns, pebblePort, httpPort, tlsPort)

			leaf := getV2(t, addr, p.root)
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeDomain || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
				t.Fatalf("certificate: names %q, issuer %q", leaf.DNSNames, leaf.Issuer)
			}
			validatedHTTP := strings.Contains(p.log.String(), "Attempting to validate w/ HTTP")
			if validatedHTTP != (challenge == "http-01") {
				t.Errorf("pebble validated over HTTP: %v, want %v", validatedHTTP, challenge == "http-01")
			}
			if challenge == "http-01" {
				checkRedirect(t, httpPort, berthPort)
			}
			// A client that sends no SNI gets the first domain's certificate.
			conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("handshake without SNI: %v", err)
			}
			if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
				t.Errorf("without SNI: serial %s, want %s", got, leaf.SerialNumber)
			}
			conn.Close()

			for _, f := range []string{acmeDomain, "acme_account+key"} {
				if _, err := os.Stat(filepath.Join(cfg.DataDir, "acme", f)); err != nil {
					t.Errorf("ACME cache: %v", err)
				}
			}
			// Restart with the ACME server gone: the cached certificate is
			// served, so no new order was needed.
			stop()
			p.stop()
			addr, stop2 := startApp(t, cfg)
			defer stop2()
			if again := getV2(t, addr, p.root); again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
				t.Fatalf("after restart: serial %s, want the cached %s", again.SerialNumber, leaf.SerialNumber)
			}
		})
	}
}

// checkRedirect: the HTTP-01 listener sends everything that is not a
// challenge to HTTPS on berth's port.
func checkRedirect(t *testing.T, httpPort, httpsPort int) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v2/x/tags/list?n=1", httpPort), nil)
	req.Host = acmeDomain
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	want := fmt.Sprintf("https://%s:%d/v2/x/tags/list?n=1", acmeDomain, httpsPort)
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != want {
		t.Errorf("HTTP redirect: %d %q, want 301 %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	req.Method = http.MethodPut
	if res, err := client.Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT over plain HTTP: %v %v, want 400", res, err)
	} else {
		res.Body.Close()
	}
}
