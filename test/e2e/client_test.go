package e2e

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/test/testenv"
)

// cmdTimeout bounds every client invocation; the 1 GiB scenario passes its own.
const cmdTimeout = 3 * time.Minute

// debianPackage names the Debian package of the clients installed with apt;
// the others are Go builds whose version is read from their build info.
var debianPackage = map[string]string{
	"skopeo": "skopeo", "podman": "podman", "buildah": "buildah", "ctr": "containerd", "containerd": "containerd",
}

// noOutside keeps clients on this machine: anything they try to fetch from
// outside (cosign's TUF root, for one) goes to a closed loopback port
// instead of the network, while loopback registries are reached directly.
var noOutside = []string{
	"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9",
	"https_proxy=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
}

// client is one real client binary under test, with a scratch home.
type client struct {
	t       *testing.T
	name    string // as in the report: "docker", "crane", ...
	path    string
	version string
	home    string    // HOME and working directory of every run
	env     []string  // added to the environment of every run
	failed  string    // the first step that failed; later steps are not run
	stdin   io.Reader // standard input of the next runs, if any
	auth    string    // "off" or "on": the registry's mode, for the report (reg.use)
	creds   string    // USER:PASSWORD for clients given credentials per command (reg.as)
}

// requireTools reports whether a missing client must fail the test (CI)
// rather than skip it.
func requireTools() bool { return os.Getenv("BERTH_E2E_REQUIRE") == "1" }

// missing skips t, or fails it when BERTH_E2E_REQUIRE=1, and records why.
func missing(t *testing.T, name, why string) {
	t.Helper()
	report.add(row{client: name, scenario: "(all)", result: "skip: " + why})
	if requireTools() {
		t.Fatalf("%s: %s (BERTH_E2E_REQUIRE=1; scripts/install-test-tools.sh installs the clients)", name, why)
	}
	t.Skipf("%s: %s; run scripts/install-test-tools.sh (BERTH_E2E_REQUIRE=1 makes this a failure)", name, why)
}

// lookTool finds bin on PATH or in the tools directory of install-test-tools.sh.
func lookTool(bin string) (string, bool) { return testenv.LookTool(bin) }

// needClient returns the client bin, or skips (fails in CI) when it is not installed.
func needClient(t *testing.T, name, bin string) *client {
	t.Helper()
	p, ok := lookTool(bin)
	if !ok {
		missing(t, name, bin+" not installed")
	}
	home := t.TempDir()
	c := &client{t: t, name: name, path: p, version: toolVersion(bin, p), home: home,
		env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
			"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "XDG_DATA_HOME=" + filepath.Join(home, ".local", "share")}}
	c.env = append(c.env, noOutside...)
	t.Logf("%s %s at %s", name, c.version, p)
	return c
}

// toolVersion is the Debian package version or the Go module version of bin.
func toolVersion(bin, path string) string {
	if pkg := debianPackage[bin]; pkg != "" {
		out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
		if err == nil && len(out) > 0 {
			return string(out) + " (deb)"
		}
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps { // built from a scratch module: the dependency providing the main package
		if strings.HasPrefix(bi.Path, d.Path+"/") {
			return d.Version
		}
	}
	return "unknown"
}

// step runs one scenario as a sub-test with c bound to it and records the
// result. After a failed step the remaining ones are reported as not run.
func (c *client) step(scenario string, f func(c *client)) {
	c.t.Helper()
	if c.failed != "" {
		report.add(row{client: c.name, version: c.version, auth: c.auth, scenario: scenario, result: "not run (" + c.failed + " failed)"})
		c.t.Run(scenario, func(t *testing.T) { t.Skipf("not run: step %q failed", c.failed) })
		return
	}
	start := time.Now()
	ok := c.t.Run(scenario, func(t *testing.T) {
		sub := *c
		sub.t = t
		defer func() {
			res := "pass"
			switch {
			case t.Failed():
				res = "FAIL"
			case t.Skipped():
				res = "skip"
			}
			report.add(row{client: c.name, version: c.version, auth: c.auth, scenario: scenario, result: res, dur: time.Since(start)})
		}()
		f(&sub)
	})
	if !ok {
		c.failed = scenario
	}
}

// run runs the client with args and returns its combined output; a non-zero
// exit fails the step.
func (c *client) run(args ...string) string {
	c.t.Helper()
	out, err := c.runErr(cmdTimeout, nil, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", c.name, strings.Join(args, " "), err, out)
	}
	return out
}

// runErr runs the client with a timeout and extra environment.
func (c *client) runErr(timeout time.Duration, env []string, args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Dir = c.home
	cmd.Env = append(append(os.Environ(), c.env...), env...)
	cmd.Stdin = c.stdin
	cmd.WaitDelay = 10 * time.Second // children holding the pipes must not hang the test
	start := time.Now()
	out, err := cmd.CombinedOutput()
	c.t.Logf("$ %s %s (%s)\n%s", c.name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), clip(out))
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return string(out), err
}

// clip keeps the log readable when a client is chatty.
func clip(b []byte) string {
	const max = 4000
	if len(b) > max {
		return string(b[:max/2]) + "\n…\n" + string(b[len(b)-max/2:])
	}
	return string(b)
}

// write puts content at name under the client's home and returns the path.
func (c *client) write(name string, content []byte) string {
	c.t.Helper()
	p := filepath.Join(c.home, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// accessEntry is one "request" line of berth's access log.
type accessEntry struct {
	Msg    string `json:"msg"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// requests returns the access-log entries berth has written so far.
func requests(srv *reg) []accessEntry {
	var out []accessEntry
	for _, line := range strings.Split(srv.Logs(), "\n") {
		var e accessEntry
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "request" {
			out = append(out, e)
		}
	}
	return out
}

// uploadsSince counts blob upload requests after the first n log entries.
func uploadsSince(srv *reg, n int) int {
	count := 0
	for _, e := range requests(srv)[n:] {
		if strings.Contains(e.Path, "/blobs/uploads/") {
			count++
		}
	}
	return count
}

// mustContain fails when out lacks any of wants.
func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, clip([]byte(out)))
		}
	}
}
