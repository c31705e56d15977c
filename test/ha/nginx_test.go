package ha

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/test/testenv"
)

// nginxBinary returns the nginx to run (Debian's package puts it in
// /usr/sbin, which is not on every user's PATH), or why there is none.
func nginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx is not installed (apt-get install nginx)")
}

// nginxConfig is the load balancer in front of the replicas: round robin
// with passive health checks (one failure takes a replica out for 2s),
// idempotent requests retried on the next replica on a connection error,
// timeout, 502 or 503, request bodies streamed (uploads of any size), and
// keep-alive connections to the replicas. X-Upstream names the replica(s)
// that answered, so the test can see retries and the restarted replica.
//
// One process (master_process off) that dies with the test: nothing of it
// can outlive the test binary.
func nginxConfig(prefix string, port int, upstreams []string) string {
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "        server %s max_fails=1 fail_timeout=2s;\n", u)
	}
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream berth {
%[3]s        keepalive 64;
    }
    server {
        listen 127.0.0.1:%[2]d;
        client_max_body_size 0;
        location / {
            proxy_pass http://berth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
            proxy_send_timeout 30s;
            add_header X-Upstream $upstream_addr always;
        }
    }
}
`, prefix, port, servers.String())
}

// nginx is a running nginx process.
type nginx struct {
	cmd    *exec.Cmd
	prefix string
	URL    string
	done   chan struct{}
}

// startNginx runs nginx on 127.0.0.1:port in front of upstreams (HOST:PORT
// each), stopped when t ends. It skips t when nginx is not installed (fails
// it with BERTH_E2E_REQUIRE=1).
func startNginx(t *testing.T, port int, upstreams []string) *nginx {
	t.Helper()
	bin, err := nginxBinary()
	testenv.Require(t, err)
	prefix := t.TempDir()
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(prefix, port, upstreams)), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &nginx{prefix: prefix, URL: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	n.cmd = exec.Command(bin, "-p", prefix, "-c", conf, "-e", filepath.Join(prefix, "error.log"))
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := os.Create(filepath.Join(prefix, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	n.cmd.Stdout, n.cmd.Stderr = out, out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(n.stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			t.Fatalf("nginx exited at start:\n%s", n.logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nginx did not listen on port %d within 10s:\n%s", port, n.logs())
	return nil
}

// stop asks nginx to quit at once (SIGTERM), then kills it.
func (n *nginx) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

func (n *nginx) logs() string {
	var sb strings.Builder
	for _, f := range []string{"stderr.log", "error.log"} {
		b, _ := os.ReadFile(filepath.Join(n.prefix, f))
		sb.Write(b)
	}
	return sb.String()
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
