package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// containersPolicy accepts any image: the clients of containers/image
// (skopeo, podman, buildah) read it from $HOME/.config/containers.
const containersPolicy = `{"default":[{"type":"insecureAcceptAnything"}]}`

// needContainersClient is needClient with a private containers policy.
func needContainersClient(t *testing.T, name string) *client {
	t.Helper()
	c := needClient(t, name, name)
	c.write(".config/containers/policy.json", []byte(containersPolicy))
	// Logins in the test's home, not in root's shared /run/containers
	// (podman and buildah want the file to exist).
	c.env = append(c.env, "REGISTRY_AUTH_FILE="+c.write("auth.json", []byte(`{"auths":{}}`)))
	return c
}

// manifestOf GETs a manifest straight from berth, accepting every type.
func manifestOf(t *testing.T, srv *reg, repo, ref string) (mediaType string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json"}, ", "))
	res, err := srv.do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err = io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s:%s: %d %v %s", repo, ref, res.StatusCode, err, body)
	}
	return res.Header.Get("Content-Type"), body
}

// blobDigest GETs a blob straight from berth and returns the digest of what came back.
func blobDigest(t *testing.T, srv *reg, repo string, d digest.Digest) digest.Digest {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/v2/"+repo+"/blobs/"+d.String(), nil)
	res, err := srv.do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET blob %s: %d", d, res.StatusCode)
	}
	got, err := digest.SHA256.FromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// indexPlatforms lists "os/arch" of the manifests in an index or list.
func indexPlatforms(t *testing.T, body []byte) []string {
	t.Helper()
	var idx struct {
		Manifests []struct {
			Platform struct{ OS, Architecture string }
		}
	}
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range idx.Manifests {
		out = append(out, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	return out
}

// TestSkopeo drives skopeo: OCI layout and docker-archive in, copies
// between repositories and between two berth instances, inspect,
// list-tags, delete and sync.
func TestSkopeo(t *testing.T) { bothModes(t, testSkopeo) }

func testSkopeo(t *testing.T, m mode) {
	c := needContainersClient(t, "skopeo")
	srv, srv2 := registry(t, m), registry(t, m)
	srv.use(c)
	repo, other := srv.ref("skopeo/hello"), srv.ref("skopeo/copy")
	amd, arm, amdDir, _ := c.layouts()
	archive := filepath.Join(c.home, "hello.tar")
	amd.writeDockerArchive(t, archive, "hello:amd64")
	// skopeo takes credentials per command: --creds, or --src-creds and --dest-creds.
	copyCmd := func(c *client, args ...string) string {
		flags := append([]string{"copy", "--src-tls-verify=false", "--dest-tls-verify=false"}, c.credArgs("--dest-creds")...)
		if len(args) > 0 && strings.HasPrefix(args[len(args)-2], "docker://") {
			flags = append(flags, c.credArgs("--src-creds")...)
		}
		return c.run(append(flags, args...)...)
	}
	skopeo := func(c *client, cmd string, args ...string) string {
		return c.run(append(append([]string{cmd, "--tls-verify=false"}, c.credArgs("--creds")...), args...)...)
	}

	c.step("copy OCI layout in", func(c *client) {
		copyCmd(c, "oci:"+amdDir+":amd64", "docker://"+repo+":oci")
		_, body := manifestOf(c.t, srv, srv.repo("skopeo/hello"), "oci")
		mustContain(c.t, string(body), amd.layerGzD.String())
	})
	c.step("copy docker-archive in", func(c *client) {
		copyCmd(c, "docker-archive:"+archive, "docker://"+repo+":archive")
		mt, _ := manifestOf(c.t, srv, srv.repo("skopeo/hello"), "archive")
		if mt != "application/vnd.docker.distribution.manifest.v2+json" {
			c.t.Fatalf("docker-archive pushed as %s, want a Docker schema 2 manifest", mt)
		}
	})
	c.step("inspect", func(c *client) {
		var info struct{ Digest, Architecture string }
		if err := json.Unmarshal([]byte(skopeo(c, "inspect", "docker://"+repo+":oci")), &info); err != nil {
			c.t.Fatal(err)
		}
		if info.Digest != amd.digest().String() || info.Architecture != "amd64" {
			c.t.Fatalf("inspect: %+v, want %s amd64", info, amd.digest())
		}
		mustContain(c.t, skopeo(c, "inspect", "--raw", "docker://"+repo+":archive"), "schemaVersion")
	})
	c.step("copy between repositories", func(c *client) {
		copyCmd(c, "docker://"+repo+":oci", "docker://"+other+":oci")
		mustContain(c.t, skopeo(c, "inspect", "docker://"+other+":oci"), amd.digest().String())
	})
	c.step("copy between two berths", func(c *client) {
		copyCmd(c, "docker://"+repo+":archive", "docker://"+srv2.ref("mirror/hello")+":archive")
		mustContain(c.t, skopeo(c, "inspect", "docker://"+srv2.ref("mirror/hello")+":archive"), `"amd64"`)
	})
	c.step("list-tags", func(c *client) {
		var tags struct{ Tags []string }
		if err := json.Unmarshal([]byte(skopeo(c, "list-tags", "docker://"+repo)), &tags); err != nil {
			c.t.Fatal(err)
		}
		if strings.Join(tags.Tags, ",") != "archive,oci" {
			c.t.Fatalf("tags %v, want [archive oci]", tags.Tags)
		}
	})
	c.step("sync", func(c *client) {
		args := append([]string{"sync", "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false"},
			append(c.credArgs("--src-creds"), c.credArgs("--dest-creds")...)...)
		c.run(append(args, repo, srv2.ref("synced"))...)
		mustContain(c.t, skopeo(c, "list-tags", "docker://"+srv2.ref("synced/hello")), `"oci"`)
	})
	c.step("multi-arch index (--all) in and between berths", func(c *client) {
		dir := filepath.Join(c.home, "layout-multi")
		index := writeIndexLayout(c.t, dir, "multi", amd, arm)
		copyCmd(c, "--all", "oci:"+dir+":multi", "docker://"+repo+":multi")
		copyCmd(c, "--all", "docker://"+repo+":multi", "docker://"+srv2.ref("mirror/hello")+":multi")
		if _, body := manifestOf(c.t, srv2, srv2.repo("mirror/hello"), "multi"); !bytes.Equal(body, index) {
			c.t.Fatalf("index changed on the way:\n%s\nwant\n%s", body, index)
		}
		manifestOf(c.t, srv2, srv2.repo("mirror/hello"), arm.digest().String())
	})
	c.step("delete", func(c *client) {
		srv.as(c, maintainer)
		skopeo(c, "delete", "docker://"+other+":oci")
		c.fails(append([]string{"inspect", "--tls-verify=false", "docker://" + other + ":oci"}, c.credArgs("--creds")...)...)
	})
}

// storageArgs keep podman's and buildah's images in the test's own
// directory, on the vfs driver (no overlay mounts needed).
func (c *client) storageArgs() []string {
	args := []string{"--root", filepath.Join(c.home, "storage"), "--runroot", filepath.Join(c.home, "run"), "--storage-driver", "vfs"}
	if c.name == "podman" {
		args = append(args, "--cgroup-manager", "cgroupfs", "--events-backend", "file")
	}
	return args
}

// TestPodman drives podman: build, push, pull, manifest list.
func TestPodman(t *testing.T) {
	bothModes(t, func(t *testing.T, m mode) { testPodmanLike(t, m, "podman") })
}

// TestBuildah drives buildah with the same scenarios, plus from/copy/commit.
func TestBuildah(t *testing.T) {
	bothModes(t, func(t *testing.T, m mode) { testPodmanLike(t, m, "buildah") })
}

// testPodmanLike runs the scenarios podman and buildah share (same CLI).
func testPodmanLike(t *testing.T, m mode, name string) {
	c := needContainersClient(t, name)
	srv := registry(t, m)
	srv.use(c)
	path := srv.repo(name + "/hello")
	repo := srv.Addr + "/" + path
	run := func(c *client, args ...string) string { return c.run(append(c.storageArgs(), args...)...) }
	for _, arch := range []string{"amd64", "arm64"} {
		bin, err := os.ReadFile(hello(t, arch))
		if err != nil {
			t.Fatal(err)
		}
		c.write("ctx-"+arch+"/hello", bin)
		if err := os.Chmod(filepath.Join(c.home, "ctx-"+arch, "hello"), 0o755); err != nil {
			t.Fatal(err)
		}
		c.write("ctx-"+arch+"/Containerfile", []byte("FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n"))
	}
	var dgst string

	c.step("build FROM scratch", func(c *client) {
		run(c, "build", "-t", repo+":v1", filepath.Join(c.home, "ctx-amd64"))
	})
	c.step("push", func(c *client) {
		df := filepath.Join(c.home, "digest")
		run(c, "push", "--tls-verify=false", "--digestfile", df, repo+":v1")
		b, err := os.ReadFile(df)
		if err != nil {
			c.t.Fatal(err)
		}
		dgst = strings.TrimSpace(string(b))
		manifestOf(c.t, srv, path, dgst)
	})
	c.step("pull by tag and digest", func(c *client) {
		run(c, "rmi", repo+":v1")
		run(c, "pull", "--tls-verify=false", repo+":v1")
		run(c, "rmi", repo+":v1")
		run(c, "pull", "--tls-verify=false", repo+"@"+dgst)
		mustContain(c.t, run(c, "images", "--digests"), dgst)
	})
	if name == "buildah" {
		c.step("from scratch, copy, commit, push", func(c *client) {
			ctr := strings.TrimSpace(run(c, "from", "scratch"))
			run(c, "copy", ctr, filepath.Join(c.home, "ctx-amd64", "hello"), "/hello")
			run(c, "config", "--entrypoint", `["/hello"]`, ctr)
			run(c, "commit", ctr, repo+":committed")
			run(c, "rm", ctr)
			run(c, "push", "--tls-verify=false", repo+":committed")
			manifestOf(c.t, srv, path, "committed")
		})
	}
	c.step("manifest list create/push", func(c *client) {
		for _, arch := range []string{"amd64", "arm64"} {
			run(c, "build", "--platform", "linux/"+arch, "--manifest", "multi", filepath.Join(c.home, "ctx-"+arch))
		}
		run(c, "manifest", "push", "--all", "--tls-verify=false", "multi", "docker://"+repo+":multi")
		_, body := manifestOf(c.t, srv, path, "multi")
		if got := strings.Join(indexPlatforms(c.t, body), ","); got != "linux/amd64,linux/arm64" {
			c.t.Fatalf("pushed list has platforms %s, want linux/amd64,linux/arm64", got)
		}
		run(c, "manifest", "rm", "multi")
		run(c, "pull", "--tls-verify=false", "--arch", "arm64", repo+":multi")
	})
}
