package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pushedDigest finds "TAG: digest: sha256:… size: N" in docker/podman output.
var pushedDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// TestDocker drives the docker CLI and engine: build FROM scratch, push,
// pull by tag and digest, run, a second tag that reuses every layer, and a
// multi-platform manifest list.
func TestDocker(t *testing.T) { bothModes(t, testDocker) }

// dockerClient is the docker CLI with a private config directory, or a
// skip when no engine answers.
func dockerClient(t *testing.T) *client {
	t.Helper()
	c := needClient(t, "docker", "docker")
	if out, err := c.runErr(time.Minute, nil, "info", "--format", "{{.ServerVersion}}"); err != nil {
		missing(t, "docker", "`docker info` fails: "+strings.TrimSpace(out))
	} else {
		cli, _ := c.runErr(time.Minute, nil, "version", "--format", "{{.Client.Version}}")
		c.version = "client " + strings.TrimSpace(cli) + ", engine " + strings.TrimSpace(out)
	}
	// The classic builder (no buildx plugin needed); logins and manifest lists kept in the test's home.
	c.env = append(c.env, "DOCKER_BUILDKIT=0", "DOCKER_CONFIG="+filepath.Join(c.home, ".docker"))
	return c
}

func testDocker(t *testing.T, m mode) {
	c := dockerClient(t)
	srv := registry(t, m)
	srv.use(c)
	ref, other := srv.ref("docker/hello"), srv.ref("docker/other")
	t.Cleanup(func() { // images live in the shared engine: remove ours
		_, _ = c.runErr(time.Minute, nil, "rmi", "-f", ref+":v1", ref+":v2", ref+":arm64", other+":v1")
		_, _ = c.runErr(time.Minute, nil, "image", "prune", "-f", "--filter", "label=berth-e2e")
	})
	var dgst string

	c.step("build FROM scratch", func(c *client) {
		ctx := filepath.Join(c.home, "ctx")
		bin, err := os.ReadFile(hello(c.t, "amd64"))
		if err != nil {
			c.t.Fatal(err)
		}
		c.write("ctx/hello", bin)
		if err := os.Chmod(filepath.Join(ctx, "hello"), 0o755); err != nil {
			c.t.Fatal(err)
		}
		c.write("ctx/Dockerfile", []byte("FROM scratch\nLABEL berth-e2e=1\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n"))
		c.run("build", "-t", ref+":v1", ctx)
	})
	c.step("push", func(c *client) {
		m := pushedDigest.FindStringSubmatch(c.run("push", ref+":v1"))
		if m == nil {
			c.t.Fatal("no digest in push output")
		}
		dgst = m[1]
	})
	c.step("remove locally, pull by tag", func(c *client) {
		c.run("rmi", ref+":v1")
		if _, err := c.runErr(time.Minute, nil, "image", "inspect", ref+":v1"); err == nil {
			c.t.Fatal("image still present after rmi")
		}
		mustContain(c.t, c.run("pull", ref+":v1"), dgst)
	})
	c.step("pull by digest", func(c *client) {
		c.run("rmi", ref+":v1")
		mustContain(c.t, c.run("pull", ref+"@"+dgst), dgst)
		c.run("tag", ref+"@"+dgst, ref+":v1")
	})
	c.step("run", func(c *client) {
		mustContain(c.t, c.run("run", "--rm", "--network", "none", ref+":v1"), helloOutput)
	})
	c.step("second tag reuses layers", func(c *client) {
		c.run("tag", ref+":v1", ref+":v2")
		before := len(requests(srv))
		out := c.run("push", ref+":v2")
		mustContain(c.t, out, "Layer already exists", dgst)
		if n := uploadsSince(srv, before); n != 0 {
			c.t.Fatalf("pushing a second tag started %d blob uploads, want 0", n)
		}
	})
	c.step("cross-repository mount", func(c *client) {
		c.run("tag", ref+":v1", other+":v1")
		before := len(requests(srv))
		mustContain(c.t, c.run("push", other+":v1"), "Mounted from "+srv.repo("docker/hello"))
		// The layer is mounted (POST answered 201 Created); only the config is uploaded.
		mounts, patches := 0, 0
		for _, e := range requests(srv)[before:] {
			switch {
			case e.Method == "POST" && strings.HasSuffix(e.Path, "/blobs/uploads/") && e.Status == 201:
				mounts++
			case e.Method == "PATCH":
				patches++
			}
		}
		if mounts != 1 || patches > 1 {
			c.t.Fatalf("%d mounts and %d PATCH uploads, want the layer mounted and at most the config uploaded", mounts, patches)
		}
	})
	c.step("manifest list (docker manifest)", func(c *client) {
		// The engine's classic builder ignores --platform for scratch, so the
		// arm64 image is imported from a layer tarball and annotated in the list.
		img := newImage(c.t, "arm64")
		layer := c.write("arm64.tar", img.layerTar)
		c.run("import", "-c", `ENTRYPOINT ["/hello"]`, "-c", "LABEL berth-e2e=1", layer, ref+":arm64")
		c.run("push", ref+":arm64")
		c.run("manifest", "create", "--insecure", ref+":multi", ref+":v1", ref+":arm64")
		c.run("manifest", "annotate", "--os", "linux", "--arch", "arm64", ref+":multi", ref+":arm64")
		c.run("manifest", "push", "--insecure", "--purge", ref+":multi")
		mustContain(c.t, c.run("manifest", "inspect", "--insecure", ref+":multi"), "application/vnd.docker.distribution.manifest.list.v2+json", `"architecture": "arm64"`, dgst)
	})
	// buildx is optional: Debian has no package for it, and a multi-platform
	// builder needs the moby/buildkit image, which cannot be pulled here.
	if _, err := c.runErr(time.Minute, nil, "buildx", "version"); err != nil {
		report.note("docker buildx is not installed on this machine: the multi-platform push is covered by `docker manifest`.")
		return
	}
	c.step("multi-platform build (buildx)", func(c *client) {
		c.run("buildx", "build", "--platform", "linux/amd64,linux/arm64", "--push", "-t", ref+":buildx", filepath.Join(c.home, "ctx"))
	})
}
