package httplimit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const idle = 500 * time.Millisecond

var opts = Options{BodyIdleTimeout: idle, BodyMinRate: 1024, WriteIdleTimeout: idle}

// outcome is what a handler saw: its last read or write error and when.
type outcome struct {
	n     int64
	err   error
	after time.Duration
}

// serve runs Handler(h) as the outermost handler of a loopback HTTP/1
// server (so that it sees net/http's own request) and returns its address.
func serve(t *testing.T, o Options, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(Handler(h, o))
	lim := Limit(srv.Listener, 1000, 10) // as berth serves: per-connection state
	srv.Listener, srv.Config.ConnContext = lim, lim.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestKeepAliveAfterLargeResponse: a large response sets a write deadline
// on the connection; a small response on the same connection after that
// deadline has passed sets none of its own (smallResponse) and must still
// be written — which holds because net/http clears the deadline after each
// request; this guards that assumption.
func TestKeepAliveAfterLargeResponse(t *testing.T) {
	addr := serve(t, opts, func(w http.ResponseWriter, r *http.Request) {
		size := 100
		if r.URL.Path == "/big" {
			size = 1 << 20
		}
		_, _ = w.Write(make([]byte, size))
	})
	// One raw connection, so that no client retries on another one.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, path := range []string{"/big", "/small", "/small"} {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s on the kept-alive connection: %v", path, err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || n == 0 {
			t.Fatalf("%s: %d, %d bytes, %v", path, res.StatusCode, n, err)
		}
		time.Sleep(2 * idle) // past the deadline the last response left
	}
}

// readAll is a handler that reads the whole body and reports on done.
func readAll(done chan<- outcome) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		n, err := io.Copy(io.Discard, r.Body)
		done <- outcome{n, err, time.Since(start)}
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		}
	}
}

// sendSlowly writes a request head declaring size bytes, then one byte
// every `every` (at most 100, within 10 s) until the connection fails.
func sendSlowly(t *testing.T, addr string, size int, every time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
	go func() {
		for range 100 {
			time.Sleep(every)
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	return c
}

func wait(t *testing.T, done <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still reading after 10 s")
	}
	return outcome{}
}

// TestSlowBodyIsCut: silence for the idle timeout, or a trickle under the
// minimum rate, ends the body with ErrSlowBody about the idle timeout
// after it began; with no minimum rate the trickle is left alone.
func TestSlowBodyIsCut(t *testing.T) {
	for _, c := range []struct {
		name  string
		rate  int64
		every time.Duration
		cut   bool
	}{
		{"silent", 1024, 2 * idle, true},
		{"trickle", 1024, idle / 10, true},
		{"trickle-without-rate-rule", 0, idle / 10, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan outcome, 1)
			o := opts
			o.BodyMinRate = c.rate
			addr := serve(t, o, readAll(done))
			conn := sendSlowly(t, addr, 30, c.every) // 3 s of trickle at most
			got := wait(t, done)
			conn.Close()
			if !c.cut {
				if got.err != nil || got.n != 30 {
					t.Fatalf("got %d bytes, %v", got.n, got.err)
				}
				return
			}
			if !errors.Is(got.err, ErrSlowBody) || !errors.Is(got.err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v, want ErrSlowBody", got.err)
			}
			if got.after < idle-slack(idle) || got.after > idle+idle/2 {
				t.Fatalf("cut after %s, want about %s", got.after, idle)
			}
		})
	}
}

// TestHandlerPausesAreNotCharged: time the handler spends between Reads
// (writing to storage) does not count against the client, whose bytes
// wait in the socket meanwhile.
func TestHandlerPausesAreNotCharged(t *testing.T) {
	done := make(chan outcome, 1)
	addr := serve(t, opts, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		var total int64
		for {
			n, err := r.Body.Read(buf)
			total += int64(n)
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				done <- outcome{total, err, 0}
				return
			}
			if total < 256<<10 {
				time.Sleep(idle * 3 / 2)
			}
		}
	})
	body := strings.NewReader(strings.Repeat("x", 4<<20))
	res, err := http.Post("http://"+addr+"/", "application/octet-stream", body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := wait(t, done); got.err != nil || got.n != 4<<20 {
		t.Fatalf("read %d bytes, %v", got.n, got.err)
	}
}

// TestUnreadBodiesFinishAsBefore: net/http still decides how to finish a
// body the handler did not read: a client waiting for "100 Continue" gets
// the refusal at once; a small unread body is drained and the connection
// kept; a large one closed by the handler ends the connection rather than
// being parsed as the next request.
func TestUnreadBodiesFinishAsBefore(t *testing.T) {
	addr := serve(t, opts, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			r.Body.Close()
		}
		w.WriteHeader(http.StatusUnauthorized)
		// More than net/http buffers: the head goes out before the
		// handler returns, while the body is still wrapped.
		_, _ = io.WriteString(w, strings.Repeat("no\n", 4<<10))
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	status := func() string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return err.Error()
		}
		res.Body.Close()
		return res.Status
	}
	start := time.Now()
	fmt.Fprint(c, "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if st := status(); st != "401 Unauthorized" || time.Since(start) > idle/2 {
		t.Fatalf("expect-continue refusal: %q after %s", st, time.Since(start))
	}
	// That connection is closed (the body never came): a new one.
	c.Close()
	if c, err = net.Dial("tcp", addr); err != nil {
		t.Fatal(err)
	}
	br = bufio.NewReader(c)
	fmt.Fprint(c, "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	fmt.Fprint(c, "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if a, b := status(), status(); a != "401 Unauthorized" || b != "401 Unauthorized" {
		t.Fatalf("small unread bodies on one connection: %q, %q", a, b)
	}
	fmt.Fprintf(c, "PUT /close HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1<<20)
	if st := status(); st != "401 Unauthorized" {
		t.Fatalf("closed large body: %q", st)
	}
	fmt.Fprint(c, strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 100)) // inside the body
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(br); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") || len(rest) > 0 {
		t.Fatalf("after a large body closed unread: %q %v, want the connection closed", rest, err)
	}
}

// stallingClient asks for / and reads nothing, through a 16 KiB window.
func stallingClient(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	t.Cleanup(func() { c.Close() })
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
}

// TestStalledResponseIsCut: a response the client stops reading fails in
// the handler about the write idle timeout after the socket filled, both
// through Write and through ReadFrom of a file (the sendfile path).
func TestStalledResponseIsCut(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(file, make([]byte, 64<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, via := range []string{"write", "readfrom"} {
		t.Run(via, func(t *testing.T) {
			done := make(chan outcome, 1)
			addr := serve(t, opts, func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				var n int64
				var err error
				if via == "write" {
					chunk := make([]byte, 1<<20)
					for err == nil && n < 64<<20 {
						var m int
						m, err = w.Write(chunk)
						n += int64(m)
					}
				} else {
					f, _ := os.Open(file)
					defer f.Close()
					n, err = io.CopyN(w, f, 64<<20) // what http.ServeContent does
				}
				done <- outcome{n, err, time.Since(start)}
			})
			stallingClient(t, addr)
			got := wait(t, done)
			if got.err == nil || got.n >= 64<<20 || got.after > idle+2*time.Second {
				t.Fatalf("wrote %d bytes in %s: %v", got.n, got.after, got.err)
			}
		})
	}
}

// chunkRecorder records what ReadFrom is given.
type chunkRecorder struct {
	http.ResponseWriter
	srcs []io.Reader
	ns   []int64
}

func (c *chunkRecorder) ReadFrom(src io.Reader) (int64, error) {
	c.srcs = append(c.srcs, src)
	lr := src.(*io.LimitedReader)
	c.ns = append(c.ns, lr.N)
	return io.Copy(io.Discard, src)
}

// TestReadFromKeepsTheFile: the chunks handed on are each one
// *io.LimitedReader directly over the *os.File — the only shape for which
// net/http uses sendfile — and the caller's limit is honoured and updated.
func TestReadFromKeepsTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	size := int64(3*writeChunk + 100)
	if err := os.WriteFile(file, make([]byte, size+500), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := &chunkRecorder{ResponseWriter: httptest.NewRecorder()}
	w := &writer{ResponseWriter: rec, ctl: http.NewResponseController(rec), idle: idle, slack: slack(idle)}
	lr := &io.LimitedReader{R: f, N: size}
	n, err := io.Copy(w, lr)
	if err != nil || n != size || lr.N != 0 {
		t.Fatalf("copied %d of %d (left %d): %v", n, size, lr.N, err)
	}
	for i, src := range rec.srcs {
		if l, ok := src.(*io.LimitedReader); !ok || l.R != f || rec.ns[i] > writeChunk {
			t.Fatalf("chunk %d: %T over %T, %d bytes", i, src, src.(*io.LimitedReader).R, rec.ns[i])
		}
	}
	if len(rec.srcs) != 4 {
		t.Fatalf("%d chunks, want 4", len(rec.srcs))
	}
}

// TestHTTP2: the same rules hold per stream over HTTP/2.
func TestHTTP2(t *testing.T) {
	done := make(chan outcome, 1)
	srv := httptest.NewUnstartedServer(Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			readAll(done)(w, r)
			return
		}
		start := time.Now()
		chunk := make([]byte, 1<<20)
		var n int64
		var err error
		for err == nil && n < 256<<20 {
			var m int
			m, err = w.Write(chunk)
			n += int64(m)
		}
		done <- outcome{n, err, time.Since(start)}
	}), opts))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"h2"}

	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		for range 30 {
			time.Sleep(idle / 10)
			if _, err := pw.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, pr)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.ProtoMajor != 2 || res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body over %s: %d", res.Proto, res.StatusCode)
	}
	if got := wait(t, done); !errors.Is(got.err, ErrSlowBody) || got.after > idle+idle/2 {
		t.Fatalf("slow body over HTTP/2: %v after %s", got.err, got.after)
	}

	res, err = client.Get(srv.URL) // and never read
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if got := wait(t, done); got.err == nil || got.after > idle+2*time.Second {
		t.Fatalf("unread response over HTTP/2: wrote %d bytes in %s: %v", got.n, got.after, got.err)
	}
}
