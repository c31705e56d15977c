package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
)

// testCA is a throw-away certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

// issue makes a server certificate for 127.0.0.1 and localhost with the
// given serial number, as PEM certificate and key.
func (ca *testCA) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startApp runs Run in-process and returns the bound address and a stop
// function that cancels it and checks that it returned cleanly.
func startApp(t *testing.T, cfg config.Config) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- Run(ctx, cfg, log, func(a string) { addrc <- a }) }()
	select {
	case addr := <-addrc:
		stopped := false
		return addr, func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after cancel", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("not ready in 15s")
	}
	return "", nil
}

// servedSerial makes a fresh TLS handshake with addr and returns the serial
// number of the certificate it presents, verified against pool.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// waitSerial polls until addr serves the certificate with serial want.
func waitSerial(t *testing.T, addr string, pool *x509.CertPool, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := servedSerial(t, addr, pool)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving certificate %d after %s, want %d", got, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTLSCertFiles serves HTTPS from certificate files: TLS 1.2 minimum, and
// a renewed certificate is picked up without a restart — by modification
// time, and at once on SIGHUP — while a half-written pair is not.
func TestTLSCertFiles(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1, k1 := ca.issue(t, 1)
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k1)

	cfg := config.Default()
	cfg.Auth.Enabled = false // these tests are about TLS, not access control
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	addr, stop := startApp(t, cfg)
	defer stop()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool}, DisableKeepAlives: true}}
	res, err := client.Get("https://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET /v2/ over HTTPS: %d, %+v", res.StatusCode, res.TLS)
	}

	// TLS 1.0/1.1 clients are refused.
	old := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 client was accepted")
	}
	// Plain HTTP on the TLS port gets no registry.
	if res, err := http.Get("http://" + addr + "/v2/"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP served /v2/ on the TLS listener")
		}
	}

	// Renewal: new files are served within a few seconds, no restart.
	c2, k2 := ca.issue(t, 2)
	writeFile(t, certFile, c2)
	writeFile(t, keyFile, k2)
	waitSerial(t, addr, ca.pool, 2, 3*certCheckEvery+2*time.Second)

	// A half-written pair (new certificate, old key) keeps the old one in use.
	c3, k3 := ca.issue(t, 3)
	writeFile(t, certFile, c3)
	time.Sleep(certCheckEvery + time.Second)
	if got := servedSerial(t, addr, ca.pool); got != 2 {
		t.Fatalf("serving %d with a mismatched key file, want 2", got)
	}
	writeFile(t, keyFile, k3)
	waitSerial(t, addr, ca.pool, 3, 3*certCheckEvery+2*time.Second)

	// SIGHUP reloads even when the modification times did not change.
	ci, err := os.Stat(certFile)
	if err != nil {
		t.Fatal(err)
	}
	ki, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c4, k4 := ca.issue(t, 4)
	writeFile(t, certFile, c4)
	writeFile(t, keyFile, k4)
	if err := os.Chtimes(certFile, ci.ModTime(), ci.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(keyFile, ki.ModTime(), ki.ModTime()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(certCheckEvery + 500*time.Millisecond)
	if got := servedSerial(t, addr, ca.pool); got != 3 {
		t.Fatalf("serving %d before SIGHUP with unchanged modification times, want 3", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, addr, ca.pool, 4, 5*time.Second)
}

// TestTLSStartErrors: unreadable or mismatched files stop the start with
// the setting named.
func TestTLSStartErrors(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	c1, _ := ca.issue(t, 1)
	_, k2 := ca.issue(t, 2)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k2)
	for name, files := range map[string][2]string{
		"tls-cert":          {filepath.Join(dir, "missing.pem"), keyFile},
		"tls-key":           {certFile, filepath.Join(dir, "missing.pem")},
		"tls-cert/tls-key ": {certFile, keyFile},
	} {
		cfg := config.Default()
		cfg.Auth.Enabled = false // these tests are about TLS, not access control
		cfg.Addr = "127.0.0.1:0"
		cfg.DataDir = t.TempDir()
		cfg.TLSCert, cfg.TLSKey = files[0], files[1]
		err := Run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Run = %v, want an error naming it", name, err)
		}
	}
}
