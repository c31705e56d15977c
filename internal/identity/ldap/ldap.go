// Package ldap signs users in against an LDAP directory (OpenLDAP, Active
// Directory) with Harbor's configuration keys, onboards them into berth's
// users table, and tells their groups, nested ones included, for group
// project memberships. It serves Harbor's /ldap operations (ping, user
// search and import, group search) through the API.
//
// Every operation is bounded: at most MaxConns connections at once (a
// caller waits at most ldap_timeout for one), each request times out
// after ldap_timeout, and after a failed connection the directory is
// taken as down for a few seconds, so that with the directory gone
// sign-ins fail at once instead of piling up. Connections bound as the
// search DN are pooled; a broken one is dropped and the request retried
// once on a new connection.
package ldap

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// Config is a directory configuration (Harbor's ldap_* keys).
type Config struct {
	URL                 string
	SearchDN            string
	SearchPassword      string
	BaseDN              string
	Filter              string
	UID                 string
	Scope               int
	Timeout             time.Duration
	VerifyCert          bool
	StartTLS            bool
	GroupBaseDN         string
	GroupFilter         string
	GroupNameAttr       string
	GroupAdminDN        string
	GroupMembershipAttr string
	GroupScope          int
	GroupCacheTTL       time.Duration
}

// key identifies a configuration (the pool and the caches are per key).
func (c Config) key() string {
	h := sha256.Sum256(fmt.Appendf(nil, "%#v", c))
	return hex.EncodeToString(h[:8])
}

// ConfigFrom reads the configuration in force.
func ConfigFrom(st *settings.Settings) (Config, error) {
	v := st.Get().Identity.LDAP
	pw, err := st.SearchPassword()
	if err != nil {
		return Config{}, err
	}
	return Config{URL: v.URL, SearchDN: v.SearchDN, SearchPassword: pw, BaseDN: v.BaseDN, Filter: v.Filter, UID: v.UID,
		Scope: int(v.Scope), Timeout: time.Duration(v.Timeout) * time.Second, VerifyCert: v.VerifyCert, StartTLS: v.StartTLS,
		GroupBaseDN: v.GroupBaseDN, GroupFilter: v.GroupSearchFilter, GroupNameAttr: v.GroupAttributeName,
		GroupAdminDN: v.GroupAdminDN, GroupMembershipAttr: v.GroupMembershipAttribute, GroupScope: int(v.GroupSearchScope),
		GroupCacheTTL: time.Duration(v.GroupCacheTTL) * time.Second}, nil
}

// Options configures a Service.
type Options struct {
	Settings *settings.Settings
	Store    meta.AccessStore
	// RootCAs verifies ldaps:// servers (nil: the system's roots).
	RootCAs *x509.CertPool
	// MaxConns bounds the connections open at once (default 16).
	MaxConns int
	Log      *slog.Logger
}

// Service is the LDAP directory: an auth.Directory and auth.GroupSource.
type Service struct {
	opt Options
	sem chan struct{}

	mu        sync.Mutex
	poolKey   string
	idle      []idleConn
	downUntil time.Time
	adKey     string // the configuration whose server kind is known
	isAD      bool

	groups groupCache
}

var (
	_ auth.Directory   = (*Service)(nil)
	_ auth.GroupSource = (*Service)(nil)
)

// New returns the service.
func New(opt Options) *Service {
	if opt.MaxConns <= 0 {
		opt.MaxConns = 16
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Service{opt: opt, sem: make(chan struct{}, opt.MaxConns)}
}

// Active implements auth.Directory: auth_mode is ldap_auth. Not "and an
// ldap_url is set": under ldap_auth no local password but the break-glass
// administrator's signs in, also while the directory is not configured
// yet (sign-ins then fail as unavailable).
func (s *Service) Active() bool {
	return s.opt.Settings.Get().Identity.AuthMode == settings.LDAPAuth
}

// Configured reports whether an ldap_url is set.
func (s *Service) Configured() bool { return s.opt.Settings.Get().Identity.LDAP.URL != "" }

// idleConn is a pooled connection and when it was last used.
type idleConn struct {
	conn *goldap.Conn
	used time.Time
}

// checkAfter: a connection idle for longer is checked (a root DSE read)
// before it is used again; servers and firewalls drop idle connections.
const checkAfter = 30 * time.Second

// downFor is how long the directory is taken as down after a failed
// connection.
const downFor = 3 * time.Second

// errUnavailable wraps a failure to reach the directory.
func errUnavailable(err error) error {
	return fmt.Errorf("%w: %v", auth.ErrDirectoryUnavailable, err)
}

// dial opens a connection (not bound).
func (s *Service) dial(c Config) (*goldap.Conn, error) {
	raw := c.URL
	if !strings.Contains(raw, "://") {
		raw = "ldap://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	host := u.Hostname()
	tlsCfg := &tls.Config{ServerName: host, RootCAs: s.opt.RootCAs, InsecureSkipVerify: !c.VerifyCert, MinVersion: tls.VersionTLS12} //nolint:gosec // ldap_verify_cert=false is the administrator's choice
	conn, err := goldap.DialURL(raw, goldap.DialWithDialer(&net.Dialer{Timeout: timeout}), goldap.DialWithTLSConfig(tlsCfg))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(timeout)
	if c.StartTLS && u.Scheme == "ldap" {
		if err := conn.StartTLS(tlsCfg); err != nil {
			conn.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return conn, nil
}

// bindSearch binds conn as the search DN (anonymously without one).
func bindSearch(conn *goldap.Conn, c Config) error {
	if c.SearchDN == "" {
		return conn.UnauthenticatedBind("")
	}
	return conn.Bind(c.SearchDN, c.SearchPassword)
}

// acquire takes a connection slot, waiting at most the timeout.
func (s *Service) acquire(ctx context.Context, c Config) error {
	t := time.NewTimer(c.Timeout)
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errUnavailable(errors.New("every LDAP connection is busy"))
	}
}

// conn returns a pooled connection bound as the search DN, or a new one.
// The caller holds a slot (acquire).
func (s *Service) conn(c Config) (*goldap.Conn, error) {
	key := c.key()
	s.mu.Lock()
	if s.poolKey != key { // the configuration changed: drop the old connections
		for _, ic := range s.idle {
			ic.conn.Close()
		}
		s.idle, s.poolKey, s.downUntil = nil, key, time.Time{}
	}
	for len(s.idle) > 0 {
		ic := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if ic.conn.IsClosing() {
			ic.conn.Close()
			continue
		}
		if time.Since(ic.used) > checkAfter {
			s.mu.Unlock()
			healthy := healthCheck(ic.conn, c) == nil
			s.mu.Lock()
			if !healthy {
				ic.conn.Close()
				continue
			}
		}
		s.mu.Unlock()
		return ic.conn, nil
	}
	if time.Now().Before(s.downUntil) {
		s.mu.Unlock()
		return nil, errUnavailable(errors.New("the directory did not answer a moment ago"))
	}
	s.mu.Unlock()
	cn, err := s.dial(c)
	if err == nil {
		if err = bindSearch(cn, c); err != nil {
			cn.Close()
			if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
				return nil, fmt.Errorf("%w: the search DN's bind was refused (ldap_search_dn, ldap_search_password)", auth.ErrDirectoryUnavailable)
			}
		}
	}
	if err != nil {
		s.mu.Lock()
		s.downUntil = time.Now().Add(downFor)
		s.mu.Unlock()
		return nil, errUnavailable(err)
	}
	return cn, nil
}

// put returns a healthy connection, bound as the search DN, to the pool.
func (s *Service) put(c Config, cn *goldap.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poolKey != c.key() || len(s.idle) >= cap(s.sem) || cn.IsClosing() {
		cn.Close()
		return
	}
	s.idle = append(s.idle, idleConn{conn: cn, used: time.Now()})
}

// healthCheck reads the root DSE: a connection that answers is alive.
func healthCheck(cn *goldap.Conn, c Config) error {
	_, err := cn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1,
		int(c.Timeout.Seconds()), false, "(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// isNetwork reports errors that mean the connection is broken (not an
// answer of the server).
func isNetwork(err error) bool {
	return goldap.IsErrorAnyOf(err, goldap.ErrorNetwork, goldap.LDAPResultServerDown, goldap.LDAPResultTimeout, goldap.LDAPResultUnavailable) ||
		errors.Is(err, net.ErrClosed)
}

// with runs fn on a connection bound as the search DN. A broken pooled
// connection is replaced and fn retried once; fn's own LDAP errors are
// returned as they are.
func (s *Service) with(ctx context.Context, c Config, fn func(*goldap.Conn) error) error {
	if c.URL == "" {
		return errors.New("no LDAP directory is configured (ldap_url)")
	}
	if err := s.acquire(ctx, c); err != nil {
		return err
	}
	defer func() { <-s.sem }()
	for attempt := 0; ; attempt++ {
		cn, err := s.conn(c)
		if err != nil {
			return err
		}
		err = fn(cn)
		if err != nil && isNetwork(err) {
			cn.Close()
			if attempt == 0 && ctx.Err() == nil {
				continue
			}
			return errUnavailable(err)
		}
		s.put(c, cn)
		return err
	}
}

// current is the configuration in force for signing in and searching:
// without an ldap_url the directory is unavailable.
func (s *Service) current() (Config, error) {
	c, err := ConfigFrom(s.opt.Settings)
	if err == nil && c.URL == "" {
		err = errors.New("ldap_url is not set")
	}
	if err != nil {
		return c, errUnavailable(err)
	}
	return c, nil
}
