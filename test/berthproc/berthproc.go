// Package berthproc builds the real berth binary once per test binary and
// runs it as a child process on a loopback port, for tests that need the
// whole program (crash safety, shutdown, memory, real clients).
package berthproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Binary builds cmd/berth once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func build() (string, error) {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "berth-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "berth")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/berth")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// LogLine is one JSON line berth wrote to stderr.
type LogLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Addr  string `json:"addr"`
	Count int    `json:"count"`
	Raw   string `json:"-"`
}

// Server is a running `berth serve` process.
type Server struct {
	t   testing.TB
	Cmd *exec.Cmd
	Dir string
	// Addr is 127.0.0.1:port and URL http://127.0.0.1:port.
	Addr, URL string

	mu    sync.Mutex
	lines []LogLine

	logDone chan struct{} // stderr reached EOF
	done    chan struct{} // process reaped; waitErr is set
	waitErr error
}

// Start runs `berth serve` on 127.0.0.1:0 over dir with extra flags and
// waits for its "berth listening" line. It is killed at cleanup.
func Start(t testing.TB, dir string, extra ...string) *Server {
	t.Helper()
	return StartEnv(t, dir, nil, extra...)
}

// StartEnv is Start with env (KEY=value) added to the child's environment,
// e.g. BERTH_ADMIN_PASSWORD for a server with access control.
func StartEnv(t testing.TB, dir string, env []string, extra ...string) *Server {
	t.Helper()
	s, err := launch(t, dir, env, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() { // what berth said went wrong, to explain the failure
			t.Logf("berth %s warnings and errors:\n%s", s.Addr, s.problems())
		}
	})
	return s
}

// Launch is StartEnv for a server that outlives any one test, such as one
// shared by a whole test binary (testenv.Shared): no test owns it, and
// Stop ends it.
func Launch(dir string, env []string, extra ...string) (*Server, error) {
	return launch(nil, dir, env, extra...)
}

// launch starts berth and waits for it to listen; on error the process
// is gone. t (nil for Launch) is whom Kill reports to.
func launch(t testing.TB, dir string, env []string, extra ...string) (*Server, error) {
	bin, err := build()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"}
	if !hasFlag(extra, "--auth") {
		args = append(args, "--auth=false") // tests of access control pass --auth themselves
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close() // the child holds its own copy
	s := &Server{t: t, Cmd: cmd, Dir: dir, logDone: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.logDone)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := LogLine{Raw: sc.Text()}
			_ = json.Unmarshal(sc.Bytes(), &l)
			s.mu.Lock()
			s.lines = append(s.lines, l)
			s.mu.Unlock()
		}
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if l, ok := s.Find("berth listening"); ok && l.Addr != "" {
			s.Addr, s.URL = l.Addr, "http://"+l.Addr
			return s, nil
		}
		select {
		case <-s.done:
			<-s.logDone
			return nil, fmt.Errorf("berth exited before listening: %v\n%s", s.waitErr, s.Logs())
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = s.Stop()
	return nil, fmt.Errorf("berth did not log %q within 30s\n%s", "berth listening", s.Logs())
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// Find returns the first log line with the given msg.
func (s *Server) Find(msg string) (LogLine, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if l.Msg == msg {
			return l, true
		}
	}
	return LogLine{}, false
}

// WaitLog waits up to d for a line with the given msg.
func (s *Server) WaitLog(msg string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, ok := s.Find(msg); ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// problems returns the lines logged at WARN or ERROR, at most the last 50.
func (s *Server) problems() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		if l.Level == "WARN" || l.Level == "ERROR" {
			out = append(out, l.Raw)
		}
	}
	return strings.Join(out[max(0, len(out)-50):], "\n")
}

// Logs returns everything logged so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sb strings.Builder
	for _, l := range s.lines {
		sb.WriteString(l.Raw)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Exited reports whether the process has been reaped.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process (a no-op once it has been reaped).
func (s *Server) Signal(sig syscall.Signal) {
	if !s.Exited() {
		_ = s.Cmd.Process.Signal(sig)
	}
}

// Wait waits up to d for the process to exit.
func (s *Server) Wait(d time.Duration) bool {
	select {
	case <-s.done:
		<-s.logDone
		return true
	case <-time.After(d):
		return false
	}
}

// Kill sends SIGKILL and waits for the process to be reaped.
func (s *Server) Kill() {
	if err := s.Stop(); err != nil && s.t != nil {
		s.t.Error(err)
	}
}

// Stop is Kill for a Launch-ed server: the error says if the process
// outlived SIGKILL by 10s.
func (s *Server) Stop() error {
	s.Signal(syscall.SIGKILL)
	if !s.Wait(10 * time.Second) {
		return fmt.Errorf("berth pid %d still running 10s after SIGKILL", s.Cmd.Process.Pid)
	}
	return nil
}

// Problems returns the lines berth logged at WARN or ERROR, at most the
// last 50, to explain a failure.
func (s *Server) Problems() string { return s.problems() }

// ExitCode is the process's exit code (-1 if killed by a signal).
func (s *Server) ExitCode() int { return s.Cmd.ProcessState.ExitCode() }

// WaitErr is what Wait on the process returned (after it exited).
func (s *Server) WaitErr() error { return s.waitErr }

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
