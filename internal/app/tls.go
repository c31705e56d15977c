package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/httplimit"
)

// certCheckEvery is how often the --tls-cert/--tls-key files are checked
// for a new modification time. SIGHUP reloads them at once.
const certCheckEvery = 2 * time.Second

// tlsMode names how the main listener is served, for the startup log.
func tlsMode(cfg config.Config) string {
	switch {
	case cfg.TLSCert != "":
		return "files"
	case len(cfg.ACMEDomains) > 0:
		return "acme"
	}
	return "off"
}

// startTLS prepares HTTPS for the main listener (bound to mainAddr) and
// starts what it needs in the background: the certificate file watcher, or
// the ACME HTTP-01 listener. It returns a nil config when TLS is off (plain
// HTTP), and a stop function that ends the background work.
func startTLS(cfg config.Config, mainAddr net.Addr, log *slog.Logger) (*tls.Config, func(), error) {
	switch tlsMode(cfg) {
	case "files":
		return startCertFiles(cfg, log)
	case "acme":
		return startACME(cfg, mainAddr, log)
	}
	return nil, func() {}, nil
}

// serve runs srv on ln, with TLS when srv.TLSConfig is set.
func serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// baseTLSConfig is what both modes share: TLS 1.2 at least.
func baseTLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: getCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// certFiles serves the certificate in a pair of PEM files and reloads it
// when their modification times change or on SIGHUP, so a renewed
// certificate needs no restart. A pair that fails to load (for example
// half-written) keeps the previous certificate in use and is retried.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
	stamp             string // modification times of the pair last loaded
}

func startCertFiles(cfg config.Config, log *slog.Logger) (*tls.Config, func(), error) {
	c := &certFiles{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, log: log}
	if err := c.load(true); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.watch(ctx, hup)
	}()
	stop := func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
	return baseTLSConfig(c.getCertificate), stop, nil
}

func (c *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// modStamp is the modification times of both files.
func (c *certFiles) modStamp() (string, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return "", fmt.Errorf("tls-cert: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return "", fmt.Errorf("tls-key: %w", err)
	}
	return ci.ModTime().String() + " " + ki.ModTime().String(), nil
}

// load reads the pair if force is set or the files changed since the last
// load; the served certificate changes only when the new pair is valid.
func (c *certFiles) load(force bool) error {
	stamp, err := c.modStamp()
	if err != nil {
		return err
	}
	if !force && stamp == c.stamp {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls-cert/tls-key %s, %s: %w", c.certFile, c.keyFile, err)
	}
	c.stamp = stamp
	c.cur.Store(&cert)
	if leaf := cert.Leaf; leaf != nil {
		c.log.Info("TLS certificate loaded", "file", c.certFile, "subject", leaf.Subject.String(),
			"dns_names", leaf.DNSNames, "not_after", leaf.NotAfter)
		if time.Now().After(leaf.NotAfter) {
			c.log.Warn("TLS certificate has expired", "file", c.certFile, "not_after", leaf.NotAfter)
		}
	}
	return nil
}

func (c *certFiles) watch(ctx context.Context, hup <-chan os.Signal) {
	t := time.NewTicker(certCheckEvery)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			force = true
		}
		if err := c.load(force); err != nil {
			c.log.Warn("reloading TLS certificate failed; still serving the previous one", "err", err)
		}
	}
}

// startACME obtains and renews certificates with ACME (autocert): the
// TLS-ALPN-01 challenge is answered on the main listener, HTTP-01 on
// --acme-http-addr when set. Certificates and the account key are cached
// in DATA/acme, so a restart reuses them.
func startACME(cfg config.Config, mainAddr net.Addr, log *slog.Logger) (*tls.Config, func(), error) {
	client := &acme.Client{DirectoryURL: cfg.ACMEDirectory, UserAgent: "berth/" + Version}
	if cfg.ACMECARoot != "" {
		hc, err := caRootClient(cfg.ACMECARoot)
		if err != nil {
			return nil, nil, err
		}
		client.HTTPClient = hc
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(filepath.Join(cfg.DataDir, "acme")),
		HostPolicy: autocert.HostWhitelist(cfg.ACMEDomains...),
		Email:      cfg.ACMEEmail,
		Client:     client,
	}
	stop := func() {}
	if cfg.ACMEHTTPAddr != "" {
		_, mainPort, _ := net.SplitHostPort(mainAddr.String())
		ln, err := net.Listen("tcp", cfg.ACMEHTTPAddr)
		if err != nil {
			return nil, nil, fmt.Errorf("acme-http-addr: %w", err)
		}
		challenges := m.HTTPHandler(httpsRedirect(mainPort))
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// autocert checks Host against the domains as is: drop a port.
				if h, _, err := net.SplitHostPort(r.Host); err == nil {
					r.Host = h
				}
				challenges.ServeHTTP(w, r)
			}),
			ReadHeaderTimeout: 10 * time.Second,
			// Challenges and redirects are small and bodiless: whole-request
			// timeouts and a small cap keep this listener from holding many
			// descriptors for slow clients.
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 30 * time.Second,
			IdleTimeout:  time.Minute,
			ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(httplimit.Limit(ln, 64, 0)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("ACME HTTP-01 listener stopped", "err", err)
			}
		}()
		log.Info("ACME HTTP-01 listener", "addr", ln.Addr().String())
		stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			<-done
		}
	}
	log.Info("ACME certificates", "domains", cfg.ACMEDomains, "directory", cfg.ACMEDirectory,
		"cache", filepath.Join(cfg.DataDir, "acme"))
	tc := baseTLSConfig(func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" {
			// Clients that dial an IP address send no SNI: answer with the
			// first domain rather than failing the handshake.
			hello.ServerName = cfg.ACMEDomains[0]
		}
		return m.GetCertificate(hello)
	})
	tc.NextProtos = append(tc.NextProtos, acme.ALPNProto)
	return tc, stop, nil
}

// caRootClient trusts the system roots plus the PEM bundle in file, for an
// ACME server whose HTTPS certificate comes from a private CA.
func caRootClient(file string) (*http.Client, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("acme-ca-root: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("acme-ca-root %s: no PEM certificates in it", file)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// httpsRedirect sends plain-HTTP GET and HEAD requests to the same host on
// the HTTPS port; anything else is refused.
func httpsRedirect(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		switch {
		case httpsPort != "443" && httpsPort != "":
			host = net.JoinHostPort(host, httpsPort)
		case strings.Contains(host, ":"):
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}
