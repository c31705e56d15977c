// Package testenv holds what the helpers that start real servers for tests
// (test/pgserver, test/s3server) share.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
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
