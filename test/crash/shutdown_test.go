package crash

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/test/berthproc"
)

// TestGracefulShutdown sends SIGTERM while a slow PATCH is streaming in:
// the listener closes at once, the PATCH still completes with 202, the
// process exits 0 logging "stopped", and the bytes it took are there after
// a restart.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("real-binary test skipped in -short mode")
	}
	const (
		repo      = "graceful/upload"
		chunks    = 10
		chunkSize = 64 << 10
		chunkGap  = 100 * time.Millisecond // ~1s of streaming in all
	)
	dir := t.TempDir()
	srv := berthproc.Start(t, dir)
	c := newClient()
	defer c.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	res, err := do(c, req, http.StatusAccepted)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := location(srv.URL, res)
	if err != nil {
		t.Fatal(err)
	}

	// The body: a pipe fed one chunk every chunkGap.
	pr, pw := io.Pipe()
	h := sha256.New()
	startedFeeding := make(chan struct{})
	var feedDone atomic.Bool
	feedErr := make(chan error, 1)
	go func() {
		src := rand.NewChaCha8([32]byte{42})
		for i := range chunks {
			b := make([]byte, chunkSize)
			_, _ = src.Read(b)
			if _, err := pw.Write(b); err != nil {
				feedErr <- fmt.Errorf("writing chunk %d: %w", i, err)
				return
			}
			h.Write(b)
			if i == 2 {
				close(startedFeeding)
			}
			time.Sleep(chunkGap)
		}
		feedDone.Store(true)
		feedErr <- pw.Close()
	}()
	type result struct {
		res *http.Response
		err error
	}
	resc := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, loc, pr)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.ContentLength = -1
		res, err := c.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		if err != nil {
			pr.CloseWithError(err) // unblock the feeder
		}
		resc <- result{res, err}
	}()

	select {
	case <-startedFeeding:
	case err := <-feedErr:
		t.Fatalf("feeding the PATCH body: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the PATCH body was not consumed within 10s")
	}
	srv.Signal(syscall.SIGTERM)
	sigterm := time.Now()
	if !srv.WaitLog("shutting down: draining in-flight requests", 5*time.Second) {
		t.Fatalf("no shutdown log line within 5s of SIGTERM\n%s", srv.Logs())
	}

	// New connections are refused once shutdown has begun, while the PATCH
	// is still being drained.
	refused, whileDraining := false, false
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		conn, err := net.DialTimeout("tcp", srv.Addr, time.Second)
		if err != nil {
			refused, whileDraining = true, !feedDone.Load() && !srv.Exited()
			break
		}
		conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
	if !refused {
		t.Errorf("new connections to %s still accepted 3s after shutdown began", srv.Addr)
	}
	if refused && !whileDraining {
		t.Errorf("connections were refused only after the in-flight PATCH ended")
	}

	select {
	case err := <-feedErr:
		if err != nil {
			t.Fatalf("feeding the PATCH body: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("feeding the PATCH body did not finish within 10s")
	}
	var r result
	select {
	case r = <-resc:
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight PATCH got no response within 10s")
	}
	if r.err != nil {
		t.Fatalf("in-flight PATCH failed during graceful shutdown: %v\n%s", r.err, srv.Logs())
	}
	if r.res.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight PATCH: status %d, want 202", r.res.StatusCode)
	}
	const total = chunks * chunkSize
	if got, want := r.res.Header.Get("Range"), fmt.Sprintf("0-%d", total-1); got != want {
		t.Errorf("in-flight PATCH: Range %q, want %q", got, want)
	}

	if !srv.Wait(5 * time.Second) {
		t.Fatalf("berth still running 5s after the drained PATCH\n%s", srv.Logs())
	}
	if code := srv.ExitCode(); code != 0 {
		t.Fatalf("berth exited with code %d, want 0\n%s", code, srv.Logs())
	}
	if _, ok := srv.Find("stopped"); !ok {
		t.Errorf("berth did not log %q\n%s", "stopped", srv.Logs())
	}
	t.Logf("SIGTERM mid-PATCH: refused new connections while draining: %v; PATCH 202 with %d bytes; exit 0 after %v",
		whileDraining, total, time.Since(sigterm).Round(time.Millisecond))

	// The drained bytes are durable: restart and finish the upload.
	d := digest.NewDigest(digest.SHA256, h)
	srv2 := berthproc.Start(t, dir)
	put, err := location(srv2.URL, &http.Response{Header: r.res.Header, Request: r.res.Request})
	if err == nil {
		put, err = withQuery(put, url.Values{"digest": {string(d)}})
	}
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPut, put, nil)
	if _, err := do(c, req, http.StatusCreated); err != nil {
		t.Fatalf("completing the upload after restart: %v", err)
	}
	if err := verifyBlob(c, srv2.URL, repo, d, total); err != nil {
		t.Fatal(err)
	}
	srv2.Signal(syscall.SIGTERM)
	if !srv2.Wait(10*time.Second) || srv2.ExitCode() != 0 {
		t.Fatalf("second berth did not exit 0 after SIGTERM\n%s", srv2.Logs())
	}
}

// TestDataDirLock starts a second berth on a data directory already in use:
// it must exit non-zero at once, saying so, and leave the first serving.
func TestDataDirLock(t *testing.T) {
	if testing.Short() {
		t.Skip("real-binary test skipped in -short mode")
	}
	dir := t.TempDir()
	first := berthproc.Start(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthproc.Binary(t), "serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		t.Fatalf("second berth on the same data directory exited 0\n%s", out)
	case ctx.Err() != nil:
		t.Fatalf("second berth on the same data directory was still running after 15s\n%s", out)
	case !errors.As(err, &ee):
		t.Fatalf("running the second berth: %v", err)
	case ee.ExitCode() <= 0:
		t.Fatalf("second berth exit code %d, want a positive one\n%s", ee.ExitCode(), out)
	}
	if elapsed > 5*time.Second {
		t.Errorf("second berth took %v to fail, want fast failure", elapsed)
	}
	if !strings.Contains(string(out), "data directory") || !strings.Contains(string(out), "in use") {
		t.Errorf("second berth's output does not say the data directory is in use:\n%s", out)
	}
	if strings.Contains(string(out), "berth listening") {
		t.Errorf("second berth started listening:\n%s", out)
	}
	t.Logf("second berth exited %d after %v: %s", ee.ExitCode(), elapsed.Round(time.Millisecond), strings.TrimSpace(string(out)))

	res, err := newClient().Get(first.URL + "/v2/")
	if err != nil {
		t.Fatalf("first berth stopped answering: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first berth: GET /v2/ status %d", res.StatusCode)
	}
}
