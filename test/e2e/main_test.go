package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/berth-registry/berth/test/berthproc"
)

// TestMain removes what the run built (the berth binary, the test image's
// static binary) and, when BERTH_CLIENTS_REPORT names
// a file, writes the client compatibility table there (docs/clients.md).
func TestMain(m *testing.M) {
	code := m.Run()
	if path := os.Getenv("BERTH_CLIENTS_REPORT"); path != "" {
		if err := report.write(path); err != nil {
			fmt.Fprintln(os.Stderr, "clients report:", err)
			code = 1
		}
	}
	removeBuilds()
	berthproc.Cleanup()
	os.Exit(code)
}
