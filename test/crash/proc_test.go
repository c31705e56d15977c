// Package crash runs the real berth binary as a child process and checks
// what survives SIGKILL, SIGTERM and a second process on the same data
// directory.
package crash

import (
	"os"
	"testing"

	"github.com/berth-registry/berth/test/berthproc"
)

// TestMain removes the binary berthproc built.
func TestMain(m *testing.M) {
	code := m.Run()
	berthproc.Cleanup()
	os.Exit(code)
}
