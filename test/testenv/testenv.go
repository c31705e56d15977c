// Package testenv holds what the helpers that start real servers for tests
// (test/pgserver, test/s3server) share.
package testenv

import (
	"os"
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
