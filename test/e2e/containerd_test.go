package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// privateContainerd starts containerd on its own root, state and socket in
// a temp directory (the CRI plugin off) and returns the socket; it is
// stopped at cleanup. CONTAINERD_ADDRESS, when set, names one to use instead.
func privateContainerd(t *testing.T, ctr *client) string {
	t.Helper()
	if addr := os.Getenv("CONTAINERD_ADDRESS"); addr != "" {
		return addr
	}
	bin, ok := lookTool("containerd")
	if !ok {
		missing(t, "containerd", "containerd not installed")
	}
	dir, err := os.MkdirTemp("", "berth-ctrd-") // short: a socket path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "containerd.sock")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config", filepath.Join(dir, "config.toml"))
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel() // SIGKILL; its state is in dir, removed above
		_ = cmd.Wait()
		logf.Close()
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := ctr.runErr(10*time.Second, nil, "--address", sock, "version"); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Fatalf("private containerd did not answer within 30s:\n%s", clip(b))
		}
	}
}

// TestContainerd pulls with containerd's ctr, from a private containerd,
// images that crane pushed: one image, by tag and digest, and a
// multi-arch index with all platforms; then pushes a tag back.
func TestContainerd(t *testing.T) { bothModes(t, testContainerd) }

func testContainerd(t *testing.T, m mode) {
	c := needClient(t, "containerd", "ctr")
	pusher := needClient(t, "crane", "crane")
	srv := registry(t, m)
	srv.use(pusher)
	srv.use(c)
	repo := srv.ref("containerd/hello")
	amd, arm, amdDir, armDir := pusher.layouts()
	pusher.run("push", "--insecure", amdDir, repo+":v1")
	pusher.run("push", "--insecure", armDir, repo+":arm64")
	pusher.run("index", "append", "--insecure", "-m", repo+":v1", "-m", repo+":arm64", "-t", repo+":multi")
	sock := privateContainerd(t, c)
	ctr := func(c *client, args ...string) string {
		return c.run(append([]string{"--address", sock, "--namespace", "berth-e2e"}, args...)...)
	}
	// ctr takes credentials per command (--user USER:PASSWORD) on pull and push.
	remote := func(c *client, cmd string, args ...string) string {
		return ctr(c, append(append([]string{"images", cmd, "--plain-http"}, c.credArgs("--user")...), args...)...)
	}

	c.step("pull --plain-http (pushed by crane)", func(c *client) {
		mustContain(c.t, remote(c, "pull", "--snapshotter", "native", repo+":v1"), amd.digest().String())
		mustContain(c.t, ctr(c, "images", "ls"), repo+":v1")
	})
	c.step("pull by digest", func(c *client) {
		remote(c, "pull", "--snapshotter", "native", repo+"@"+amd.digest().String())
	})
	c.step("pull multi-arch index, all platforms", func(c *client) {
		remote(c, "pull", "--all-platforms", repo+":multi")
		mustContain(c.t, ctr(c, "content", "ls"), amd.layerGzD.String(), arm.layerGzD.String(), arm.digest().String())
		if !strings.Contains(ctr(c, "images", "check"), "complete") {
			c.t.Fatal("images check: not complete")
		}
	})
	c.step("tag and push --plain-http", func(c *client) {
		ctr(c, "images", "tag", repo+":v1", repo+":from-ctr")
		remote(c, "push", repo+":from-ctr")
		_, body := manifestOf(c.t, srv, srv.repo("containerd/hello"), "from-ctr")
		mustContain(c.t, string(body), amd.layerGzD.String())
	})
}
