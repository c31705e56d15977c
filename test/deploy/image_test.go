package deploy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/test/testenv"
)

// TestRuntimeImage builds the image of deploy/Dockerfile.runtime from a
// static binary (what `make image` does), runs it as compose and the chart
// do (read-only root, no capabilities, keys from mounted files) on a
// loopback port, and pushes and pulls an image through it.
func TestRuntimeImage(t *testing.T) {
	docker, err := tool("docker")
	testenv.Require(t, err)
	if _, err := run(t, "", nil, docker, "info"); err != nil {
		testenv.Require(t, fmt.Errorf("docker engine not usable: %v", err))
	}
	repo := root(t)
	ctxDir := t.TempDir()
	must(t, repo, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/berth-registry/berth/internal/app.Version=deploy-test",
		"-o", filepath.Join(ctxDir, "berth"), "./cmd/berth")
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		testenv.Require(t, fmt.Errorf("host CA bundle: %v", err))
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ctxDir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	image := "berth-deploy-test:" + randHex(6)
	must(t, "", nil, docker, "build", "-q", "-f", filepath.Join(repo, "deploy", "Dockerfile.runtime"), "-t", image, ctxDir)
	t.Cleanup(func() { _, _ = run(t, "", nil, docker, "rmi", "-f", image) })

	// The image's metadata.
	var cfg struct {
		User         string
		ExposedPorts map[string]any
		Volumes      map[string]any
		Entrypoint   []string
		Env          []string
	}
	if err := json.Unmarshal([]byte(must(t, "", nil, docker, "image", "inspect", "-f", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User != "65532:65532" || cfg.ExposedPorts["5000/tcp"] == nil || cfg.Volumes["/data"] == nil ||
		strings.Join(cfg.Entrypoint, " ") != "/berth serve" || !strings.Contains(strings.Join(cfg.Env, " "), "BERTH_DATA_DIR=/data") {
		t.Errorf("image config = %+v", cfg)
	}
	if out := must(t, "", nil, docker, "run", "--rm", "--entrypoint", "/berth", image, "version"); strings.TrimSpace(out) != "berth deploy-test" {
		t.Errorf("berth version in the image = %q", out)
	}

	// Plainly run, /data is a fresh volume the image's user can write.
	plain := "berth-deploy-test-" + randHex(6)
	must(t, "", nil, docker, "run", "-d", "--name", plain, image, "--auth=false")
	t.Cleanup(func() { _, _ = run(t, "", nil, docker, "rm", "-f", "-v", plain) })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := run(t, "", nil, docker, "exec", plain, "/berth", "healthcheck")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := run(t, "", nil, docker, "logs", plain)
			t.Fatalf("container with its default volume not ready: %v\n%s", err, logs)
		}
	}

	// Run it the way deploy/docker-compose.yml does, with the keys of gen-secrets.sh.
	secrets := filepath.Join(genSecrets(t), "secrets")
	const password, realm = "deploy-test-Passw0rd", "https://registry.example.test/service/token"
	name := "berth-deploy-test-" + randHex(6)
	must(t, "", nil, docker, "run", "-d", "--name", name, "-p", "127.0.0.1::5000",
		"--read-only", "--tmpfs", "/data:uid=65532,gid=65532,mode=0700", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
		"-v", filepath.Join(secrets, "token.key")+":/run/secrets/token_key:ro",
		"-v", filepath.Join(secrets, "session.key")+":/run/secrets/session_key:ro",
		"-e", "BERTH_TOKEN_KEY=/run/secrets/token_key", "-e", "BERTH_SESSION_KEY=/run/secrets/session_key",
		"-e", "BERTH_TOKEN_REALM="+realm, "-e", "BERTH_ADMIN_PASSWORD="+password, image)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := run(t, "", nil, docker, "logs", name)
			t.Logf("container logs:\n%s", logs)
		}
		_, _ = run(t, "", nil, docker, "rm", "-f", "-v", name)
	})
	port := strings.TrimSpace(must(t, "", nil, docker, "port", name, "5000/tcp"))
	if !strings.HasPrefix(port, "127.0.0.1:") {
		t.Fatalf("published on %q, want 127.0.0.1 only", port)
	}
	base := "http://" + strings.SplitN(port, "\n", 2)[0]
	waitOK(t, base+"/livez")
	waitOK(t, base+"/readyz")
	must(t, "", nil, docker, "exec", name, "/berth", "healthcheck")

	// Access control is on: the challenge names the configured realm.
	res := do(t, "GET", base+"/v2/", "", nil, "")
	if want := `realm="` + realm + `"`; res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), want) {
		t.Fatalf("GET /v2/ = %d %q, want 401 with %s", res.StatusCode, res.Header.Get("WWW-Authenticate"), want)
	}

	pushPull(t, base, "library/tiny", "Basic "+basicAuth("admin", password), 1<<10)

	// Through nginx with deploy/nginx.conf (every upstream on this container),
	// when nginx is installed: a 5 MiB layer passes its body limits.
	if nginx, err := exec.LookPath("nginx"); err == nil {
		pushPull(t, startNginx(t, nginx, strings.TrimPrefix(base, "http://")), "library/big", "Basic "+basicAuth("admin", password), 5<<20)
	} else {
		t.Log("nginx not installed: deploy/nginx.conf not exercised")
	}

	// The CA bundle is in the image.
	dst := filepath.Join(t.TempDir(), "ca.crt")
	must(t, "", nil, docker, "cp", name+":/etc/ssl/certs/ca-certificates.crt", dst)
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, ca) {
		t.Error("CA bundle in the image differs from the host's")
	}
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 within 30s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func do(t *testing.T, method, url, contentType string, body []byte, authz string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// pushPull pushes an image with a layer of size random bytes as authz,
// then pulls it with a token and anonymously (the project is public).
func pushPull(t *testing.T, base, repoName, authz string, size int) {
	t.Helper()
	layer := make([]byte, size)
	_, _ = rand.Read(layer)
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	for _, blob := range [][]byte{layer, config} {
		if res := do(t, "POST", base+"/v2/"+repoName+"/blobs/uploads/?digest="+digest(blob), "application/octet-stream", blob, authz); res.StatusCode != 201 {
			t.Fatalf("blob push to %s = %d", base, res.StatusCode)
		}
	}
	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		digest(config), len(config), digest(layer), len(layer)))
	if res := do(t, "PUT", base+"/v2/"+repoName+"/manifests/v1", "application/vnd.oci.image.manifest.v1+json", manifest, authz); res.StatusCode != 201 {
		t.Fatalf("manifest push to %s = %d", base, res.StatusCode)
	}
	res := do(t, "GET", base+"/service/token?service=berth&scope=repository:"+repoName+":pull", "", nil, authz)
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.Token == "" {
		t.Fatalf("token from %s = %d, %v", base, res.StatusCode, err)
	}
	res = do(t, "GET", base+"/v2/"+repoName+"/manifests/v1", "", nil, "Bearer "+tok.Token)
	if got, _ := io.ReadAll(res.Body); res.StatusCode != 200 || !bytes.Equal(got, manifest) {
		t.Fatalf("manifest pull from %s with a token = %d, %d bytes", base, res.StatusCode, len(got))
	}
	res = do(t, "GET", base+"/v2/"+repoName+"/blobs/"+digest(layer), "", nil, "")
	if got, _ := io.ReadAll(res.Body); res.StatusCode != 200 || !bytes.Equal(got, layer) {
		t.Fatalf("anonymous blob pull from %s = %d, %d bytes", base, res.StatusCode, len(got))
	}
}

// startNginx runs nginx with deploy/nginx.conf, its three upstreams
// pointed at upstream, on a loopback port, and returns its base URL.
func startNginx(t *testing.T, nginx, upstream string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "deploy", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	conf := strings.NewReplacer("berth-1:5000", upstream, "berth-2:5000", upstream, "berth-3:5000", upstream,
		"listen 80;", "listen "+addr+";", "/dev/stdout", filepath.Join(dir, "access.log"),
		"/dev/stderr", filepath.Join(dir, "error.log")).Replace(string(b))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM: the master stops its workers (SIGKILL would orphan them).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx: %s\n%s", stderr.String(), log)
		}
	})
	waitOK(t, "http://"+addr+"/livez")
	return "http://" + addr
}
