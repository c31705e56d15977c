package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is a registry implementation under test.
type target struct {
	name  string
	start func(dataDir, addr string) *exec.Cmd
	// startAuth, if set, starts the target with access control on, for the
	// figures that show what authentication costs.
	startAuth func(dataDir, addr string) *exec.Cmd
	// startNoMetrics, if set, starts the target without its metrics, for
	// the figure of what they cost (metricscost.go).
	startNoMetrics func(dataDir, addr string) *exec.Cmd
}

// server is one running registry process.
type server struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	startup time.Duration // exec to first 200 on /v2/
	logFile *os.File
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// benchAdminPassword is the administrator's password of the berth started
// with access control.
const benchAdminPassword = "bench-admin-password-1"

func berthTarget(bin string) target {
	return target{name: "berth",
		start: func(dataDir, addr string) *exec.Cmd {
			return exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--access-log=false", "--log-level", "warn", "--auth=false")
		},
		startAuth: func(dataDir, addr string) *exec.Cmd {
			cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--access-log=false", "--log-level", "warn", "--auth=true")
			cmd.Env = append(os.Environ(), "BERTH_ADMIN_PASSWORD="+benchAdminPassword)
			return cmd
		},
		startNoMetrics: func(dataDir, addr string) *exec.Cmd {
			return exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--access-log=false", "--log-level", "warn", "--auth=false",
				"--metrics=false")
		},
	}
}

// referenceTarget is distribution/distribution's registry on its
// filesystem driver with deletes on and logging at warn, like berth.
func referenceTarget(bin string) target {
	return target{name: "reference", start: func(dataDir, addr string) *exec.Cmd {
		cfg := filepath.Join(dataDir, "config.yml")
		_ = os.MkdirAll(filepath.Join(dataDir, "storage"), 0o750)
		_ = os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dataDir, "storage"), addr)), 0o640)
		cmd := exec.Command(bin, "serve", cfg)
		cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
		return cmd
	}}
}

// launch starts tg on a fresh loopback port over dataDir and waits for /v2/.
func launch(tg target, dataDir string) (*server, error) {
	addr := freeAddr()
	cmd := tg.start(dataDir, addr)
	logf, err := os.CreateTemp("", "bench-"+tg.name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	s := &server{cmd: cmd, url: "http://" + addr, dataDir: dataDir, logFile: logf}
	client := &http.Client{Timeout: time.Second}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for time.Since(begin) < 30*time.Second {
		res, err := client.Get(s.url + "/v2/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusUnauthorized { // 401: up, with access control
				s.startup = time.Since(begin)
				return s, nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s did not answer /v2/ within 30s (log %s)", tg.name, logf.Name())
}

// stop sends SIGTERM and waits (SIGKILL after 10s).
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.logFile.Close()
	os.Remove(s.logFile.Name())
}

// rss reads VmRSS and VmHWM (peak) from /proc, in bytes.
func (s *server) rss() (cur, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			cur = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return cur, peak
}

// resetPeak resets VmHWM so the next peak reading covers only what follows.
func (s *server) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

// waitIdle waits until the 1-minute load is low or d passes, so a workload
// does not start while the previous one's aftermath still runs.
func waitIdle(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return
		}
		idle1, total1 := cpuTimes(b)
		time.Sleep(200 * time.Millisecond)
		b, _ = os.ReadFile("/proc/stat")
		idle2, total2 := cpuTimes(b)
		if total2 > total1 && float64(idle2-idle1)/float64(total2-total1) > 0.9 {
			return
		}
	}
}

func cpuTimes(stat []byte) (idle, total uint64) {
	line, _, _ := strings.Cut(string(stat), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, total
}
