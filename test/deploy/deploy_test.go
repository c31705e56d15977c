// Package deploy tests what deploy/ ships: the runtime image (built and run
// with docker), the docker-compose file (docker-compose config) and the Helm
// chart (helm lint and helm template). Missing tools skip, or fail with
// BERTH_E2E_REQUIRE=1.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/test/testenv"
)

// root is the repository root.
func root(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// tool finds bin on PATH or in the tools directory of scripts/install-test-tools.sh.
func tool(bin string) (string, error) {
	if p, ok := testenv.LookTool(bin); ok {
		return p, nil
	}
	return "", fmt.Errorf("%s not found on PATH or in the tools directory", bin)
}

// run runs name args in dir with a timeout and returns stdout; stderr goes
// into the error.
func run(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// must is run that fails t on error.
func must(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(t, dir, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// contains fails t for each of wants missing from got.
func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// genSecrets runs deploy/gen-secrets.sh into a new directory.
func genSecrets(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		testenv.Require(t, errors.New("openssl (deploy/gen-secrets.sh) not found"))
	}
	dir := t.TempDir()
	must(t, root(t), nil, "sh", "deploy/gen-secrets.sh", dir)
	return dir
}
