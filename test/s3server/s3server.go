// Package s3server starts throwaway S3 servers for tests: versitygw (an
// S3 gateway onto a local directory) listening on 127.0.0.1 and a free
// port, its data in a temporary directory, stopped and removed after the
// test. Each test gets a bucket of its own.
//
//	func TestX(t *testing.T) { srv := s3server.Shared(t); bucket := srv.NewBucket(t) ... }
//
// The binary is $BERTH_TOOLS_DIR/bin/versitygw (default
// ~/.cache/berth-tools/bin), as scripts/install-test-tools.sh installs it,
// or the one in $BERTH_VERSITYGW, or on PATH. When it is missing the test
// is skipped, or fails with BERTH_E2E_REQUIRE=1 (CI).
package s3server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berth-registry/berth/test/testenv"
)

// Credentials of the servers' root user.
const (
	AccessKey = "berthtest"
	SecretKey = "berthtest-secret-key"
	Region    = "us-east-1"
)

// Server is one running versitygw.
type Server struct {
	dir     string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	buckets atomic.Int64
}

// Binary returns the versitygw to run, or an error saying how to get one.
func Binary() (string, error) {
	if p := os.Getenv("BERTH_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("versitygw (S3 server) is not installed: BERTH_VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	tools := os.Getenv("BERTH_TOOLS_DIR")
	if tools == "" {
		home, _ := os.UserHomeDir()
		tools = filepath.Join(home, ".cache", "berth-tools")
	}
	p := filepath.Join(tools, "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versitygw (S3 server) is not installed (looked for %s and on PATH)", p)
}

// Start starts a server on a new temporary directory. Stop it with Stop.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{}
	if s.dir, err = os.MkdirTemp("", "berth-s3-"); err != nil {
		return nil, err
	}
	data := filepath.Join(s.dir, "data")
	meta := filepath.Join(s.dir, "meta")
	for _, d := range []string{data, meta} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(s.dir)
			return nil, err
		}
	}
	// A free port can be taken before the server binds it: try a few.
	for attempt := 1; attempt <= 3; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.launch(bin, data, meta); err == nil {
			return s, nil
		}
	}
	s.Stop()
	return nil, err
}

func (s *Server) launch(bin, data, meta string) error {
	logf, err := os.Create(filepath.Join(s.dir, "log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	// The metadata goes to a sidecar directory: no need for a file system
	// with user extended attributes.
	s.cmd = exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", s.Addr(), "--quiet", "posix", "--sidecar", meta, data)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY=", "ROOT_SECRET_KEY=")
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
			return fmt.Errorf("versitygw exited at start:\n%s", s.logTail())
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.kill()
	return fmt.Errorf("versitygw did not listen on %s within 30s:\n%s", s.Addr(), s.logTail())
}

func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the server's HOST:PORT (always on 127.0.0.1).
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Endpoint is the server's URL.
func (s *Server) Endpoint() string { return "http://" + s.Addr() }

// Client returns a client of the server as its root user.
func (s *Server) Client() (*minio.Client, error) {
	return minio.New(s.Addr(), &minio.Options{
		Creds:        credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
}

// CreateBucket creates a bucket (an empty one; names are the caller's).
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	return c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region})
}

// NewBucket creates a new empty bucket for t and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("berth-test-%d", s.buckets.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.CreateBucket(ctx, name); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// Stop stops the server and removes its files.
func (s *Server) Stop() error {
	s.kill()
	return os.RemoveAll(s.dir)
}

var shared = testenv.NewShared("versitygw", Start)

// Shared returns the server shared by the tests of this test binary,
// starting it on first use; TestMain should call Cleanup after m.Run (the
// server also dies with the test process). When versitygw is not
// installed, t is skipped (failed with BERTH_E2E_REQUIRE=1).
func Shared(t testing.TB) *Server {
	t.Helper()
	Require(t)
	return shared.Get(t)
}

// Cleanup stops the shared server, if one was started.
func Cleanup() { shared.Cleanup() }

// Require skips t when versitygw is not installed, or fails it when
// BERTH_E2E_REQUIRE=1.
func Require(t testing.TB) {
	t.Helper()
	_, err := Binary()
	testenv.Require(t, err)
}

// ForTest starts a server of t's own, stopped when t ends (skipped or
// failed like Shared when versitygw is missing).
func ForTest(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s, err := Start()
	if err != nil {
		t.Fatalf("starting versitygw: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}
