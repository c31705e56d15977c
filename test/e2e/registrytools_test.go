package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// layouts writes the amd64 and arm64 test images as OCI layouts under the
// client's home (tag "amd64" and "arm64") and returns them with their paths.
func (c *client) layouts() (amd, arm *image, amdDir, armDir string) {
	c.t.Helper()
	amd, arm = newImage(c.t, "amd64"), newImage(c.t, "arm64")
	amdDir, armDir = filepath.Join(c.home, "layout-amd64"), filepath.Join(c.home, "layout-arm64")
	amd.writeOCILayout(c.t, amdDir, "amd64")
	arm.writeOCILayout(c.t, armDir, "arm64")
	return amd, arm, amdDir, armDir
}

// tarHas reports whether the tarball at path has an entry named name.
func tarHas(t *testing.T, path, name string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for i := 0; i < 10000; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			return true
		}
	}
	return false
}

// fails runs the client expecting a non-zero exit (e.g. reading what was deleted).
func (c *client) fails(args ...string) {
	c.t.Helper()
	if out, err := c.runErr(time.Minute, nil, args...); err == nil {
		c.t.Fatalf("%s %s succeeded, want a failure:\n%s", c.name, strings.Join(args, " "), out)
	}
}

// TestCrane drives go-containerregistry's crane.
func TestCrane(t *testing.T) { bothModes(t, testCrane) }

func testCrane(t *testing.T, m mode) {
	c := needClient(t, "crane", "crane")
	srv := registry(t, m)
	srv.use(c)
	repo, other := srv.ref("crane/hello"), srv.ref("crane/copy")
	amd, arm, amdDir, armDir := c.layouts()
	crane := func(c *client, args ...string) string { return c.run(append(args, "--insecure")...) }

	c.step("push (OCI layout)", func(c *client) {
		mustContain(c.t, crane(c, "push", amdDir, repo+":v1"), amd.digest().String())
		mustContain(c.t, crane(c, "push", armDir, repo+":arm64"), arm.digest().String())
	})
	c.step("pull", func(c *client) {
		out := filepath.Join(c.home, "pulled")
		crane(c, "pull", "--format", "oci", repo+":v1", out)
		if _, err := os.Stat(filepath.Join(out, "blobs", "sha256", amd.layerGzD.Encoded())); err != nil {
			c.t.Fatalf("pulled layout lacks the layer: %v", err)
		}
		crane(c, "pull", repo+":v1", filepath.Join(c.home, "pulled.tar"))
		if !tarHas(c.t, filepath.Join(c.home, "pulled.tar"), "manifest.json") {
			c.t.Fatal("pulled tarball has no manifest.json")
		}
	})
	c.step("copy", func(c *client) {
		crane(c, "copy", repo+":v1", other+":v1")
		mustContain(c.t, crane(c, "digest", other+":v1"), amd.digest().String())
	})
	c.step("multi-arch index", func(c *client) {
		crane(c, "index", "append", "-m", repo+":v1", "-m", repo+":arm64", "-t", repo+":multi")
		out := crane(c, "manifest", repo+":multi")
		mustContain(c.t, out, amd.digest().String(), arm.digest().String())
		mustContain(c.t, crane(c, "config", repo+":multi", "--platform", "linux/arm64"), `"architecture":"arm64"`)
	})
	c.step("tag", func(c *client) {
		crane(c, "tag", repo+":v1", "latest")
		mustContain(c.t, crane(c, "ls", repo), "latest")
		mustContain(c.t, crane(c, "digest", repo+":latest"), amd.digest().String())
	})
	c.step("delete", func(c *client) {
		srv.as(c, maintainer)
		d := strings.TrimSpace(crane(c, "digest", repo+":multi"))
		crane(c, "delete", repo+"@"+d)
		c.fails("manifest", "--insecure", repo+"@"+d)
		if strings.Contains(crane(c, "ls", repo), "multi") {
			c.t.Fatal("tag multi still listed after its manifest was deleted")
		}
	})
	c.step("catalog", func(c *client) {
		srv.as(c, admin)
		mustContain(c.t, crane(c, "catalog", srv.Addr), srv.repo("crane/hello"), srv.repo("crane/copy"))
	})
	if srv.auth {
		c.step("pull-only robot: pull, push denied", func(c *client) {
			srv.as(c, readerRobot)
			crane(c, "pull", repo+":v1", filepath.Join(c.home, "robot.tar"))
			srv.deniedPush(c, "crane/robot", "v1", func() (string, error) {
				return c.runErr(time.Minute, nil, "push", "--insecure", amdDir, srv.ref("crane/robot")+":v1")
			})
		})
		c.step("immutable tag: another image refused, the same one pushed again", func(c *client) {
			srv.as(c, developer)
			srv.immutableRule(c.t, "v*", "crane/**")
			out, err := c.runErr(time.Minute, nil, "push", "--insecure", armDir, repo+":v1")
			if err == nil {
				c.t.Fatalf("pushing another image over an immutable tag succeeded:\n%s", out)
			}
			mustContain(c.t, out, "PRECONDITION", srv.repo("crane/hello")+":v1 is configured as immutable")
			mustContain(c.t, crane(c, "push", amdDir, repo+":v1"), amd.digest().String())
			mustContain(c.t, crane(c, "digest", repo+":v1"), amd.digest().String())
		})
	}
}

// TestRegctl drives regclient's regctl.
func TestRegctl(t *testing.T) { bothModes(t, testRegctl) }

func testRegctl(t *testing.T, m mode) {
	c := needClient(t, "regctl", "regctl")
	srv := registry(t, m)
	repo, other := srv.ref("regctl/hello"), srv.ref("regctl/copy")
	amd, arm, _, armDir := c.layouts()
	archive := filepath.Join(c.home, "hello.tar")
	amd.writeDockerArchive(t, archive, "hello:amd64")
	c.run("registry", "set", "--tls", "disabled", srv.Addr)
	srv.use(c)

	c.step("push (docker-archive import, OCI layout copy)", func(c *client) {
		c.run("image", "import", repo+":v1", archive)
		c.run("image", "copy", "ocidir://"+armDir+":arm64", repo+":arm64")
		mustContain(c.t, c.run("image", "digest", repo+":arm64"), arm.digest().String())
	})
	c.step("pull (export)", func(c *client) {
		out := filepath.Join(c.home, "export.tar")
		c.run("image", "export", repo+":arm64", out)
		if !tarHas(c.t, out, "blobs/sha256/"+arm.layerGzD.Encoded()) {
			c.t.Fatal("exported image lacks its layer")
		}
	})
	c.step("copy", func(c *client) {
		c.run("image", "copy", repo+":v1", other+":v1")
		if a, b := c.run("image", "digest", repo+":v1"), c.run("image", "digest", other+":v1"); a != b {
			c.t.Fatalf("copy has digest %s, source %s", b, a)
		}
	})
	c.step("multi-arch index", func(c *client) {
		c.run("index", "create", repo+":multi", "--ref", repo+":v1", "--ref", repo+":arm64")
		out := c.run("manifest", "get", repo+":multi", "--format", "raw-body")
		mustContain(c.t, out, arm.digest().String())
		mustContain(c.t, c.run("image", "config", repo+":multi", "--platform", "linux/arm64"), `"architecture": "arm64"`)
	})
	c.step("tag", func(c *client) {
		c.run("image", "copy", repo+":v1", repo+":latest")
		mustContain(c.t, c.run("tag", "ls", repo), "latest")
	})
	c.step("artifact put and tree (referrers)", func(c *client) {
		sig := c.write("sbom.json", []byte(`{"sbom":"e2e"}`))
		before := len(requests(srv))
		c.run("artifact", "put", "--subject", repo+":arm64", "--artifact-type", "application/vnd.berth.e2e.sbom",
			"--file", sig, "--file-media-type", "application/json")
		out := c.run("artifact", "tree", repo+":arm64")
		mustContain(c.t, out, "application/vnd.berth.e2e.sbom")
		mustContain(c.t, c.run("artifact", "list", repo+":arm64", "--filter-artifact-type", "application/vnd.berth.e2e.sbom"), "Referrers")
		referrersAPIOnly(c.t, srv, before)
	})
	c.step("copy with referrers", func(c *client) {
		c.run("image", "copy", "--referrers", repo+":arm64", srv.ref("regctl/signed")+":v1")
		mustContain(c.t, c.run("artifact", "tree", srv.ref("regctl/signed")+":v1"), "application/vnd.berth.e2e.sbom")
	})
	c.step("delete (tag and manifest)", func(c *client) {
		srv.as(c, maintainer)
		c.run("tag", "delete", repo+":latest")
		if strings.Contains(c.run("tag", "ls", repo), "latest") {
			c.t.Fatal("tag latest still listed after delete")
		}
		d := strings.TrimSpace(c.run("image", "digest", repo+":multi"))
		c.run("manifest", "delete", repo+"@"+d)
		c.fails("manifest", "get", repo+"@"+d)
	})
	c.step("chunked blob upload (1 MiB chunks)", func(c *client) {
		c.run("registry", "set", "--tls", "disabled", "--blob-chunk", "1048576", "--blob-max", "1048576", srv.Addr)
		content, err := io.ReadAll(newBlobSource(5<<20 + 12345))
		if err != nil {
			c.t.Fatal(err)
		}
		before := len(requests(srv))
		c.stdin = bytes.NewReader(content)
		mustContain(c.t, c.run("blob", "put", repo), digest.FromBytes(content).String())
		c.stdin = nil
		patches := 0
		for _, e := range requests(srv)[before:] {
			if e.Method == "PATCH" {
				patches++
			}
		}
		if patches < 5 {
			c.t.Fatalf("%d PATCH requests, want a chunked upload (at least 5)", patches)
		}
		if got := blobDigest(c.t, srv, srv.repo("regctl/hello"), digest.FromBytes(content)); got != digest.FromBytes(content) {
			c.t.Fatalf("stored blob has digest %s", got)
		}
	})
	c.step("catalog", func(c *client) {
		srv.as(c, admin)
		mustContain(c.t, c.run("repo", "ls", srv.Addr), srv.repo("regctl/hello"), srv.repo("regctl/copy"))
	})
}

// TestOras drives oras: artifacts, images from an OCI layout, indexes and
// the referrers API (attach, discover).
func TestOras(t *testing.T) { bothModes(t, testOras) }

func testOras(t *testing.T, m mode) {
	c := needClient(t, "oras", "oras")
	srv := registry(t, m)
	srv.use(c)
	repo, other := srv.ref("oras/hello"), srv.ref("oras/copy")
	amd, arm, amdDir, armDir := c.layouts()
	oras := func(c *client, args ...string) string { return c.run(append(args, "--plain-http")...) }
	const artifactType = "application/vnd.berth.e2e.config"
	var artifactDigest string

	c.step("push artifact (--artifact-type)", func(c *client) {
		c.write("files/config.yaml", []byte("berth: e2e\n"))
		c.home = filepath.Join(c.home, "files") // oras records paths relative to the working directory
		out := oras(c, "push", repo+":artifact", "--artifact-type", artifactType, "config.yaml:application/yaml")
		m := pushedDigest.FindStringSubmatch(strings.ReplaceAll(out, "Digest:", "digest:"))
		if m == nil {
			c.t.Fatal("no digest in push output")
		}
		artifactDigest = m[1]
		mustContain(c.t, oras(c, "manifest", "fetch", repo+":artifact"), `"artifactType":"`+artifactType+`"`)
	})
	c.step("pull", func(c *client) {
		dir := filepath.Join(c.home, "pulled")
		oras(c, "pull", repo+"@"+artifactDigest, "-o", dir)
		if b, err := os.ReadFile(filepath.Join(dir, "config.yaml")); err != nil || string(b) != "berth: e2e\n" {
			c.t.Fatalf("pulled file: %q, %v", b, err)
		}
	})
	c.step("push images (OCI layout copy)", func(c *client) {
		c.run("cp", "--from-oci-layout", amdDir+":amd64", repo+":amd64", "--to-plain-http")
		c.run("cp", "--from-oci-layout", armDir+":arm64", repo+":arm64", "--to-plain-http")
		mustContain(c.t, oras(c, "resolve", repo+":arm64"), arm.digest().String())
	})
	c.step("copy", func(c *client) {
		c.run("cp", "--from-plain-http", "--to-plain-http", repo+":amd64", other+":v1")
		mustContain(c.t, oras(c, "resolve", other+":v1"), amd.digest().String())
	})
	c.step("multi-arch index", func(c *client) {
		oras(c, "manifest", "index", "create", repo+":multi", "amd64", "arm64")
		mustContain(c.t, oras(c, "manifest", "fetch", repo+":multi"), amd.digest().String(), arm.digest().String())
	})
	c.step("tag", func(c *client) {
		oras(c, "tag", repo+":amd64", "latest", "v1")
		mustContain(c.t, oras(c, "repo", "tags", repo), "latest", "v1")
	})
	c.step("attach and discover (referrers)", func(c *client) {
		c.write("sig.txt", []byte("signed by e2e\n"))
		before := len(requests(srv))
		oras(c, "attach", repo+":amd64", "--artifact-type", "application/vnd.berth.e2e.signature", "sig.txt:text/plain")
		oras(c, "attach", repo+":amd64", "--artifact-type", "application/vnd.berth.e2e.sbom", "sig.txt:text/plain")
		out := oras(c, "discover", repo+":amd64", "--format", "json")
		mustContain(c.t, out, "application/vnd.berth.e2e.signature", "application/vnd.berth.e2e.sbom")
		out = oras(c, "discover", repo+":amd64", "--format", "json", "--artifact-type", "application/vnd.berth.e2e.sbom")
		if strings.Contains(out, "application/vnd.berth.e2e.signature") {
			c.t.Fatalf("discover --artifact-type sbom returned the signature too:\n%s", out)
		}
		referrersAPIOnly(c.t, srv, before)
	})
	c.step("copy with referrers (cp -r)", func(c *client) {
		c.run("cp", "-r", "--from-plain-http", "--to-plain-http", repo+":amd64", srv.ref("oras/signed")+":v1")
		mustContain(c.t, oras(c, "discover", srv.ref("oras/signed")+":v1", "--format", "json"),
			"application/vnd.berth.e2e.signature", "application/vnd.berth.e2e.sbom")
	})
	c.step("delete", func(c *client) {
		srv.as(c, maintainer)
		d := strings.TrimSpace(oras(c, "resolve", repo+":multi"))
		oras(c, "manifest", "delete", "--force", repo+"@"+d)
		c.fails("manifest", "fetch", "--plain-http", repo+"@"+d)
		oras(c, "blob", "delete", "--force", repo+"@"+amd.layerGzD.String())
		c.fails("blob", "fetch", "--plain-http", "--output", "-", repo+"@"+amd.layerGzD.String())
	})
	c.step("catalog", func(c *client) {
		srv.as(c, admin)
		mustContain(c.t, oras(c, "repo", "ls", srv.Addr), srv.repo("oras/hello"), srv.repo("oras/copy"))
	})
	if srv.auth {
		c.step("pull-only robot: pull, push denied", func(c *client) {
			srv.as(c, readerRobot)
			oras(c, "pull", repo+"@"+artifactDigest, "-o", filepath.Join(c.home, "robot"))
			c.home = filepath.Join(c.home, "files")
			srv.deniedPush(c, "oras/robot", "v1", func() (string, error) {
				return c.runErr(time.Minute, nil, "push", "--plain-http", srv.ref("oras/robot")+":v1", "config.yaml:application/yaml")
			})
		})
	}
}
