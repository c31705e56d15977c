// Package testenv holds what the helpers that start real servers for tests
// (test/pgserver, test/s3server) share.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Require does nothing when missing is nil (the server can be started).
// Otherwise it skips t saying why, or fails it when BERTH_E2E_REQUIRE=1
// (CI, where scripts/install-test-tools.sh has installed everything).
func Require(t testing.TB, missing error) {
	t.Helper()
	if missing == nil {
		return
	}
	if os.Getenv("BERTH_E2E_REQUIRE") == "1" {
		t.Fatalf("%v (BERTH_E2E_REQUIRE=1; scripts/install-test-tools.sh installs it)", missing)
	}
	t.Skipf("%v; scripts/install-test-tools.sh installs it (BERTH_E2E_REQUIRE=1 makes this a failure)", missing)
}

// LookTool finds bin on PATH or in the bin directory of
// scripts/install-test-tools.sh ($BERTH_TOOLS_DIR, default
// ~/.cache/berth-tools).
func LookTool(bin string) (string, bool) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, true
	}
	dirs := []string{os.Getenv("BERTH_TOOLS_DIR")}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "berth-tools"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, "bin", bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// Shared is one server shared by all the tests of a test binary, started on
// first use and stopped by Cleanup (from TestMain, after m.Run).
type Shared[S interface{ Stop() error }] struct {
	name    string
	start   func() (S, error)
	once    sync.Once
	server  S
	err     error
	started bool
}

// NewShared returns a Shared that starts the server named name with start.
func NewShared[S interface{ Stop() error }](name string, start func() (S, error)) *Shared[S] {
	return &Shared[S]{name: name, start: start}
}

// Get returns the server, starting it on first use; t fails if it cannot.
func (sh *Shared[S]) Get(t testing.TB) S {
	t.Helper()
	sh.once.Do(func() {
		sh.server, sh.err = sh.start()
		sh.started = sh.err == nil
	})
	if sh.err != nil {
		t.Fatalf("starting %s: %v", sh.name, sh.err)
	}
	return sh.server
}

// Cleanup stops the server, if it was started.
func (sh *Shared[S]) Cleanup() {
	if sh.started {
		if err := sh.server.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", sh.name, err)
		}
	}
}
