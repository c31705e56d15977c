package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/testenv"
)

// TestCompose validates deploy/docker-compose.yml with docker-compose config
// (the images cannot be pulled here, so the stack itself is not started).
func TestCompose(t *testing.T) {
	compose, err := tool("docker-compose")
	testenv.Require(t, err)
	secrets := genSecrets(t)
	file := filepath.Join(root(t), "deploy", "docker-compose.yml")
	env := []string{"BERTH_PUBLIC_URL=https://registry.example.com"}
	out := must(t, "", env, compose, "-f", file, "--env-file", filepath.Join(secrets, ".env"), "config")

	services := out[strings.Index(out, "\nservices:\n"):]
	for _, s := range []string{"postgres", "minio", "createbucket", "berth-1", "berth-2", "berth-3", "nginx",
		"berth-fs-1", "berth-fs-2", "berth-fs-3", "nginx-fs"} {
		if !strings.Contains(services, "\n  "+s+":\n") {
			t.Errorf("service %s missing", s)
		}
	}
	if n := strings.Count(out, "BERTH_STORAGE: s3"); n != 3 {
		t.Errorf("%d replicas with BERTH_STORAGE s3, want 3", n)
	}
	for _, w := range []string{"BERTH_DATABASE_URL: postgres://berth:", "@postgres:5432/berth", "BERTH_S3_ENDPOINT: http://minio:9000",
		"BERTH_S3_BUCKET: berth", "BERTH_S3_ACCESS_KEY: berth", "BERTH_S3_SECRET_KEY: ", "BERTH_TOKEN_KEY: /run/secrets/token_key",
		"BERTH_SESSION_KEY: /run/secrets/session_key", "BERTH_TOKEN_REALM: https://registry.example.com/service/token",
		"BERTH_ADMIN_PASSWORD: ", "condition: service_healthy", "condition: service_completed_successfully",
		"- /berth\n      - healthcheck", "image: postgres:15", "image: minio/minio", "127.0.0.1:5000", "read_only: true"} {
		if n := strings.Count(out, w); n == 0 {
			t.Errorf("docker-compose config lacks %q", w)
		}
	}

	// The profile shared-dir: three replicas on one blob volume, no S3.
	for w, want := range map[string]int{"BERTH_STORAGE: fs": 3, "BERTH_BLOB_DIR: /blobs": 3, "- blobs:/blobs:rw": 3, "- shared-dir": 4} {
		if n := strings.Count(services, w); n != want {
			t.Errorf("docker-compose config has %q %d times, want %d", w, n, want)
		}
	}
	fs1 := services[strings.Index(services, "\n  berth-fs-1:\n"):strings.Index(services, "\n  berth-fs-2:\n")]
	if strings.Contains(fs1, "BERTH_S3_") || strings.Contains(fs1, "createbucket") {
		t.Errorf("berth-fs-1 refers to S3:\n%s", fs1)
	}

	// Without the generated passwords compose refuses, naming the remedy.
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, t.TempDir(), nil, compose, "-f", file, "--env-file", empty, "config")
	if err == nil || !strings.Contains(err.Error(), "gen-secrets.sh") {
		t.Errorf("config without .env: err = %v, want one naming gen-secrets.sh", err)
	}

	// gen-secrets.sh keeps what exists: a second run changes nothing.
	before, _ := os.ReadFile(filepath.Join(secrets, "secrets", "token.key"))
	must(t, root(t), nil, "sh", "deploy/gen-secrets.sh", secrets)
	if after, _ := os.ReadFile(filepath.Join(secrets, "secrets", "token.key")); string(after) != string(before) {
		t.Error("gen-secrets.sh replaced an existing token key")
	}
}

// TestNginxConf checks the proxy settings registry traffic needs, and lets
// nginx itself check the syntax when it is installed (upstream names
// resolved to loopback).
func TestNginxConf(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "deploy", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	contains(t, "nginx.conf", conf, "server berth-1:5000 max_fails=", "server berth-2:5000 max_fails=", "server berth-3:5000 max_fails=",
		"fail_timeout=", "client_max_body_size 0;", "proxy_request_buffering off;", "proxy_buffering off;", "proxy_read_timeout 900s;",
		"proxy_send_timeout 900s;", "X-Forwarded-For $proxy_add_x_forwarded_for;", "X-Forwarded-Proto $scheme;",
		"X-Forwarded-Host $http_host;", "proxy_pass http://berth;")
	// The profile shared-dir's nginx differs only in the upstream names.
	b, err = os.ReadFile(filepath.Join(root(t), "deploy", "nginx-shared-dir.conf"))
	if err != nil {
		t.Fatal(err)
	}
	body := func(s string) string { return s[strings.Index(s, "\nworker_processes"):] }
	if got := strings.ReplaceAll(body(string(b)), "berth-fs-", "berth-"); got != body(conf) {
		t.Error("nginx-shared-dir.conf differs from nginx.conf in more than the upstream names")
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx not installed: syntax not checked (the directives above were)")
	}
	dir := t.TempDir()
	conf = strings.NewReplacer("berth-1:", "127.0.0.1:", "berth-2:", "127.0.0.2:", "berth-3:", "127.0.0.3:", "listen 80;", "listen 127.0.0.1:65080;", // -t binds nothing
		"/dev/stdout", filepath.Join(dir, "access.log"), "/dev/stderr", filepath.Join(dir, "error.log")).Replace(conf)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, "", nil, nginx, "-t", "-q", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "pid "+filepath.Join(dir, "nginx.pid")+";")
}
