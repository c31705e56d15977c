// Package pgserver starts throwaway PostgreSQL servers for tests: a fresh
// cluster (initdb) in a temporary directory, listening on 127.0.0.1 and a
// free port only, its socket in that directory, stopped and removed after
// the tests. Each test takes a new database from it.
//
//	func TestMain(m *testing.M) { code := m.Run(); pgserver.Cleanup(); os.Exit(code) }
//	func TestX(t *testing.T) { url := pgserver.Database(t) ... }
//
// The binaries come from the Debian package postgresql (15) in
// /usr/lib/postgresql/15/bin, or from $BERTH_PG_BIN. When they are missing
// the test is skipped, or fails with BERTH_E2E_REQUIRE=1 (CI). initdb
// refuses to run as root, so as root the server runs as the postgres user.
//
// The server trades durability for speed (fsync off): it holds test data.
// New databases default to a linguistic collation (ICU en-US, as many
// production clusters have), so code that needs byte-wise order must ask
// for it (COLLATE "C") and tests notice when it does not.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/test/testenv"
)

// DefaultBinDir is where Debian's postgresql-15 package puts the server.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// superuser is the cluster's superuser (initdb -U); authentication is
// "trust" on the loopback address, so URLs carry no password.
const superuser = "postgres"

// Server is one running PostgreSQL cluster.
type Server struct {
	dir   string // cluster data in dir/data, socket and log in dir
	bin   string
	port  int
	runAs *user.User // nil: the current user
	dbs   atomic.Int64
}

// BinDir is the directory of initdb, pg_ctl and postgres.
func BinDir() string {
	if d := os.Getenv("BERTH_PG_BIN"); d != "" {
		return d
	}
	return DefaultBinDir
}

// Available reports why PostgreSQL cannot be started here, or nil.
func Available() error {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir(), name)); err != nil {
			return fmt.Errorf("PostgreSQL 15 is not installed (%s missing; apt-get install postgresql)", filepath.Join(BinDir(), name))
		}
	}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("runuser"); err != nil {
			return errors.New("running as root needs runuser to start PostgreSQL as the postgres user")
		}
		if _, err := user.Lookup("postgres"); err != nil {
			return errors.New("running as root needs a postgres user to start PostgreSQL")
		}
	}
	return nil
}

// Start initializes and starts a new cluster. Stop it with Stop.
func Start() (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	reapStale()
	s := &Server{bin: BinDir()}
	if os.Geteuid() == 0 {
		s.runAs, _ = user.Lookup("postgres")
	}
	var err error
	if s.dir, err = os.MkdirTemp("", "berth-pg-"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	if err := s.chown(s.dir); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	if out, err := s.run("initdb", "-D", s.data(), "-A", "trust", "-U", superuser, "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken by someone else before the server binds it:
	// try a few.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		var out []byte
		out, err = s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "-o",
			fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
				s.port, s.dir), "start")
		if err == nil {
			return s, nil
		}
		err = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, s.logTail())
		if attempt == 3 {
			break
		}
	}
	s.Stop()
	return nil, err
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs a PostgreSQL program, as the postgres user when we are root.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.runAs != nil {
		cmd = exec.Command("runuser", append([]string{"-u", s.runAs.Username, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func (s *Server) chown(dir string) error {
	if s.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(s.runAs.Uid)
	gid, _ := strconv.Atoi(s.runAs.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
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

// URL is the connection URL of database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", superuser, s.Addr(), db)
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("berth_test_%d", s.dbs.Add(1))
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
	if err != nil && strings.Contains(err.Error(), "ICU") {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+name) // a server built without ICU
	}
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Stop stops the server at once and removes its files.
func (s *Server) Stop() error {
	var err error
	if _, statErr := os.Stat(filepath.Join(s.data(), "postmaster.pid")); statErr == nil {
		if out, e := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "-t", "30", "stop"); e != nil {
			err = fmt.Errorf("pg_ctl stop: %v\n%s", e, out)
		}
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// reapStale stops and removes servers left by test processes that died
// without cleaning up (a test binary killed on timeout).
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "berth-pg-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		s := &Server{dir: dir, bin: BinDir()}
		if os.Geteuid() == 0 {
			s.runAs, _ = user.Lookup("postgres")
		}
		_ = s.Stop()
	}
}

var shared = testenv.NewShared("PostgreSQL", Start)

// Shared returns the server shared by the tests of this test binary,
// starting it on first use; TestMain must call Cleanup after m.Run. When
// PostgreSQL is not installed, t is skipped (failed with
// BERTH_E2E_REQUIRE=1).
func Shared(t testing.TB) *Server {
	t.Helper()
	Require(t)
	return shared.Get(t)
}

// Cleanup stops the shared server, if one was started.
func Cleanup() { shared.Cleanup() }

// Database creates a new database on the shared server and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, err := Shared(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// ForTest starts a server of t's own (to stop or kill it in the test),
// stopped when t ends.
func ForTest(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s, err := Start()
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Require skips t when PostgreSQL is not installed, or fails it when
// BERTH_E2E_REQUIRE=1.
func Require(t testing.TB) {
	t.Helper()
	testenv.Require(t, Available())
}
