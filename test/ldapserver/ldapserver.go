// Package ldapserver starts a private OpenLDAP slapd for tests: its own
// configuration (mdb database, the memberof overlay) in a temporary
// directory, listening on 127.0.0.1 with ldap:// and ldaps:// (a server
// certificate from a CA generated for the test), seeded with the
// directory of Seed: people, groups, a nested group and a cycle.
//
//	s := ldapserver.Start(t) // skips (or fails under BERTH_E2E_REQUIRE=1) without slapd
package ldapserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/berth-registry/berth/test/testenv"
)

// The directory's names.
const (
	BaseDN        = "dc=example,dc=org"
	PeopleDN      = "ou=people," + BaseDN
	GroupsDN      = "ou=groups," + BaseDN
	AdminDN       = "cn=admin," + BaseDN
	AdminPassword = "Admin-Secret-1"
)

// Server is a running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:PORT
	LDAPSURL string // ldaps://127.0.0.1:PORT
	CAPEM    []byte // the CA that signed the ldaps certificate
	CAFile   string // CAPEM in a file
	CAPool   *x509.CertPool
	dir      string
	cmd      *exec.Cmd
}

const slapdPath = "/usr/sbin/slapd"

// Available says why slapd cannot be started (nil: it can).
func Available() error {
	if _, err := os.Stat(slapdPath); err != nil {
		return errors.New("OpenLDAP slapd is not installed (Debian packages slapd, ldap-utils)")
	}
	if _, err := os.Stat("/usr/lib/ldap/back_mdb.la"); err != nil {
		if _, err2 := os.Stat("/usr/lib/ldap/back_mdb.so"); err2 != nil {
			return errors.New("slapd's back_mdb module is missing")
		}
	}
	return nil
}

// Start starts a seeded slapd for t, stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	testenv.Require(t, Available())
	s, err := start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	if err := s.Seed(); err != nil {
		t.Fatalf("seeding the directory: %v", err)
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(dir string) (*Server, error) {
	s := &Server{dir: dir}
	if err := s.writeTLS(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile %[1]s/slapd.pid
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
database mdb
maxsize 104857600
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
overlay memberof
`, dir, BaseDN, AdminDN, AdminPassword)
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a port taken between freePort and slapd's bind: try others
		p1, err := freePort()
		if err != nil {
			return nil, err
		}
		p2, err := freePort()
		if err != nil {
			return nil, err
		}
		s.URL, s.LDAPSURL = "ldap://127.0.0.1:"+strconv.Itoa(p1), "ldaps://127.0.0.1:"+strconv.Itoa(p2)
		var out bytes.Buffer
		cmd := exec.Command(slapdPath, "-f", confPath, "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		s.cmd = cmd
		if lastErr = s.await(); lastErr == nil {
			return s, nil
		}
		s.Stop()
		lastErr = fmt.Errorf("%v\n%s", lastErr, out.String())
	}
	return nil, lastErr
}

// await waits until slapd answers on both listeners.
func (s *Server) await() error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := s.Conn()
		if err == nil {
			c.Close()
			c, err = goldap.DialURL(s.LDAPSURL, goldap.DialWithTLSConfig(s.tlsConfig()))
			if err == nil {
				c.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slapd did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops slapd and starts it again on the same addresses with the
// same directory (connections open to it break).
func (s *Server) Restart() error {
	s.Stop()
	var out bytes.Buffer
	var err error
	for range 50 { // the old process's sockets may linger a moment
		out.Reset()
		cmd := exec.Command(slapdPath, "-f", filepath.Join(s.dir, "slapd.conf"), "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err = cmd.Start(); err != nil {
			return err
		}
		s.cmd = cmd
		if err = s.await(); err == nil {
			return nil
		}
		s.Stop()
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("restarting slapd: %v\n%s", err, out.String())
}

// Stop ends slapd.
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	return nil
}

// Conn is a connection bound as the directory's administrator.
func (s *Server) Conn() (*goldap.Conn, error) {
	c, err := goldap.DialURL(s.URL, goldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(5 * time.Second)
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Password is the password of a seeded user.
func Password(user string) string { return "Pw-" + user + "-ldap" }

// UserDN and GroupDN name seeded entries.
func UserDN(user string) string   { return "uid=" + user + "," + PeopleDN }
func GroupDN(group string) string { return "cn=" + group + "," + GroupsDN }

// The seeded directory: users alice, bob, carol, dave, erin, frank; groups
//
//	devs     = bob, dave, platform   (platform is nested in devs)
//	platform = carol                 (carol is in devs through platform)
//	admins   = erin
//	loop-a   = frank, loop-b; loop-b = loop-a   (a cycle)
var Users = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

// Seed adds the seeded directory.
func (s *Server) Seed() error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	add := func(dn string, attrs map[string][]string) error {
		r := goldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			r.Attribute(k, v)
		}
		if err := c.Add(r); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		return nil
	}
	steps := []func() error{
		func() error {
			return add(BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
		},
		func() error {
			return add(PeopleDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})
		},
		func() error {
			return add(GroupsDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}})
		},
	}
	for _, u := range Users {
		steps = append(steps, func() error { return s.AddUser(c, u) })
	}
	group := func(name string, members ...string) func() error {
		return func() error {
			return add(GroupDN(name), map[string][]string{"objectClass": {"groupOfNames"}, "cn": {name}, "member": members})
		}
	}
	steps = append(steps,
		group("platform", UserDN("carol")),
		group("devs", UserDN("bob"), UserDN("dave"), GroupDN("platform")),
		group("admins", UserDN("erin")),
		group("loop-a", UserDN("frank")),
		group("loop-b", GroupDN("loop-a")),
		func() error { return s.AddMember(GroupDN("loop-a"), GroupDN("loop-b")) },
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// AddUser adds an inetOrgPerson uid=name under PeopleDN with Password(name).
func (s *Server) AddUser(c *goldap.Conn, name string) error {
	r := goldap.NewAddRequest(UserDN(name), nil)
	r.Attribute("objectClass", []string{"inetOrgPerson"})
	r.Attribute("uid", []string{name})
	r.Attribute("cn", []string{strings.ToUpper(name[:1]) + name[1:] + " Example"})
	r.Attribute("sn", []string{"Example"})
	r.Attribute("mail", []string{name + "@example.org"})
	r.Attribute("userPassword", []string{Password(name)})
	return c.Add(r)
}

// AddGroup adds a groupOfNames cn=name under GroupsDN with members (DNs).
func (s *Server) AddGroup(name string, members ...string) error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	r := goldap.NewAddRequest(GroupDN(name), nil)
	r.Attribute("objectClass", []string{"groupOfNames"})
	r.Attribute("cn", []string{name})
	r.Attribute("member", members)
	return c.Add(r)
}

// AddMember adds member to group.
func (s *Server) AddMember(group, member string) error {
	return s.modify(group, func(r *goldap.ModifyRequest) { r.Add("member", []string{member}) })
}

// RemoveMember removes member from group.
func (s *Server) RemoveMember(group, member string) error {
	return s.modify(group, func(r *goldap.ModifyRequest) { r.Delete("member", []string{member}) })
}

// DeleteUser removes a user's entry.
func (s *Server) DeleteUser(name string) error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Del(goldap.NewDelRequest(UserDN(name), nil))
}

func (s *Server) modify(dn string, fn func(*goldap.ModifyRequest)) error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	r := goldap.NewModifyRequest(dn, nil)
	fn(r)
	return c.Modify(r)
}

// tlsConfig trusts the test CA.
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CAPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// writeTLS makes a CA and a certificate for 127.0.0.1 signed by it.
func (s *Server) writeTLS() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test LDAP CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	s.CAFile = filepath.Join(s.dir, "ca.pem")
	s.CAPool = x509.NewCertPool()
	s.CAPool.AddCert(ca)
	for name, data := range map[string][]byte{
		"ca.pem":     s.CAPEM,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
