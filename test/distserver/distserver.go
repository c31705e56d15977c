// Package distserver starts throwaway reference registries (distribution
// v3, the `registry` binary) for tests: on 127.0.0.1 and a free port, its
// storage in a temporary directory, deletes enabled, optionally behind
// htpasswd basic auth; stopped and removed after the test. Replication
// and proxy-cache tests use it as a peer and as an upstream.
//
//	func TestX(t *testing.T) {
//		srv := distserver.Start(t, distserver.Options{User: "u", Password: "p"})
//		... srv.Addr() (host:port), srv.URL() (http://host:port) ...
//		srv.Kill()  // an upstream that dies mid-transfer
//	}
//
// The binary is `registry` from $BERTH_TOOLS_DIR/bin (default
// ~/.cache/berth-tools/bin) as scripts/install-test-tools.sh installs it,
// or on PATH. When it is missing the test is skipped, or fails with
// BERTH_E2E_REQUIRE=1 (CI).
package distserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/test/testenv"
)

// Options configure a server.
type Options struct {
	// User and Password, if set, protect the server with htpasswd basic
	// auth.
	User, Password string
	// Port, if not 0, is the port to listen on (a restart on the same
	// address); 0 picks a free one.
	Port int
	// Dir, if set, is the storage directory (kept after the test: a
	// restart serves the same content); "" uses a temporary one.
	Dir string
}

// Server is one running reference registry.
type Server struct {
	opt    Options
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Binary returns the registry binary, or an error saying how to get one.
func Binary() (string, error) {
	if p, ok := testenv.LookTool("registry"); ok {
		return p, nil
	}
	return "", errors.New("the reference registry (distribution v3.1.2, `registry`) is not installed")
}

// Require skips t (or fails it under BERTH_E2E_REQUIRE=1) when the
// binary is missing.
func Require(t testing.TB) {
	t.Helper()
	_, err := Binary()
	testenv.Require(t, err)
}

// Start starts a server for t, stopped when t ends.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	Require(t)
	s, err := StartServer(opt)
	if err != nil {
		t.Fatalf("starting the reference registry: %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// StartServer starts a server outside a test (benchmarks); stop it with
// Stop.
func StartServer(opt Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{opt: opt}
	if s.dir, err = os.MkdirTemp("", "berth-dist-"); err != nil {
		return nil, err
	}
	storage := opt.Dir
	if storage == "" {
		storage = filepath.Join(s.dir, "data")
	}
	auth := ""
	if opt.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opt.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		htpasswd := filepath.Join(s.dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opt.User+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: distserver\n    path: %s\n", htpasswd)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		s.port = opt.Port
		if s.port == 0 {
			if s.port, err = freePort(); err != nil {
				break
			}
		}
		conf := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: %s\n%s",
			storage, s.Addr(), auth)
		cf := filepath.Join(s.dir, "config.yml")
		if err = os.WriteFile(cf, []byte(conf), 0o600); err != nil {
			break
		}
		if err = s.launch(bin, cf); err == nil {
			return s, nil
		}
		if opt.Port != 0 {
			break
		}
	}
	os.RemoveAll(s.dir)
	return nil, err
}

func (s *Server) launch(bin, conf string) error {
	logf, err := os.Create(filepath.Join(s.dir, "log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "serve", conf)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("registry exited at start:\n%s", s.LogTail())
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("registry did not listen on %s within 30s:\n%s", s.Addr(), s.LogTail())
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's base URL (plain HTTP).
func (s *Server) URL() string { return "http://" + s.Addr() }

// Port is the port it listens on (to start another on the same address).
func (s *Server) Port() int { return s.port }

// Kill stops the server at once (SIGKILL), as an upstream that dies.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Stop kills the server and removes its files (not Options.Dir).
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.Kill()
		os.RemoveAll(s.dir)
	})
	return nil
}

// LogTail is the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
