// Package berthproc builds the real berth binary once per test binary and
// runs it as a child process on a loopback port, for tests that need the
// whole program (crash safety, memory, real clients).
package berthproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/berth (once) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "berth")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/berth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Server is a running berth process.
type Server struct {
	Cmd  *exec.Cmd
	Addr string // host:port
	URL  string // http://host:port
	Dir  string
	Log  *os.File

	done chan struct{}
	err  error
}

// Start runs berth serve on 127.0.0.1:0 with data in dir and waits until it
// answers /v2/. Extra flags are appended. The process is killed at cleanup.
func Start(t testing.TB, dir string, flags ...string) *Server {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "berth-*.log")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"}, flags...)
	cmd := exec.Command(Binary(t), args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{Cmd: cmd, Dir: dir, Log: logf, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logf.Write(append(line, '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "berth listening" {
				addrc <- rec.Addr
			}
		}
	}()
	t.Cleanup(func() { s.Kill() })
	select {
	case s.Addr = <-addrc:
	case <-s.done:
		t.Fatalf("berth exited before listening: %v\n%s", s.err, s.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("berth did not start in 30s\n%s", s.Logs())
	}
	s.URL = "http://" + s.Addr
	return s
}

// Logs returns what the process logged so far.
func (s *Server) Logs() string {
	b, _ := os.ReadFile(s.Log.Name())
	return string(b)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	_ = s.Cmd.Process.Kill()
	<-s.done
}

// Wait waits up to d for the process to exit and returns its error.
func (s *Server) Wait(d time.Duration) (exited bool, err error) {
	select {
	case <-s.done:
		return true, s.err
	case <-time.After(d):
		return false, nil
	}
}

// RSS returns the process's current and peak resident set size in bytes,
// from /proc/PID/status (VmRSS and VmHWM).
func (s *Server) RSS() (cur, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			cur = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return cur, peak, nil
}

// Client is an HTTP client with a bounded timeout for talking to Server.
var Client = &http.Client{Timeout: 5 * time.Minute}
