package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
)

// The limits every test here runs with: a body must average 1 KiB/s and
// never pause for a second; a response must never stall for a second.
const testIdle = time.Second

// limitServer runs berth with access control and the short limits above,
// then mod's changes; it returns the listener's HOST:PORT.
func limitServer(t testing.TB, mod func(*config.Config)) (addr, dataDir string) {
	t.Helper()
	auth.BcryptCost = 4
	t.Setenv("BERTH_ADMIN_PASSWORD", adminPassword)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AccessLog = false
	cfg.Limits.BodyIdleTimeout = testIdle
	cfg.Limits.BodyMinRate = 1024
	cfg.Limits.WriteIdleTimeout = testIdle
	if mod != nil {
		mod(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- Run(ctx, cfg, log, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("Run did not return")
		}
	})
	select {
	case a := <-addrc:
		return a, cfg.DataDir
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return "", ""
}

var adminBasic = "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminPassword))

// noKeepAlive is a client whose every request takes a new connection, so
// that no idle connection of the test holds a slot of the server's cap.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func get(t *testing.T, url string, authz bool) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if authz {
		req.Header.Set("Authorization", adminBasic)
	}
	res, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// trickled is what a slow client saw: the status line of the answer (or
// the read error) and how long after its request head it came.
type trickled struct {
	status string
	after  time.Duration
	closed bool // the server closed the connection after answering
}

// trickle sends head (a request with a declared body), then one byte of
// body every `every` — at most 200 bytes, and never past 15 s — until the
// server answers.
func trickle(addr, head string, every time.Duration) trickled {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return trickled{status: err.Error()}
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		return trickled{status: err.Error()}
	}
	start := time.Now()
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range 200 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	_ = c.SetReadDeadline(start.Add(15 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	res := trickled{status: strings.TrimSpace(line), after: time.Since(start)}
	if err != nil {
		res.status = err.Error()
		return res
	}
	// The rest of the answer, then the end of the connection.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, br)
	res.closed = err == nil || !os.IsTimeout(err)
	return res
}

func startSession(t *testing.T, addr, repo string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/v2/"+repo+"/blobs/uploads/", nil)
	req.Header.Set("Authorization", adminBasic)
	res, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("start upload: %d", res.StatusCode)
	}
	return res.Header.Get("Location")
}

func pushBlob(t testing.TB, addr, repo string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	req, _ := http.NewRequest("POST", "http://"+addr+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(b))
	req.Header.Set("Authorization", adminBasic)
	res, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("push blob: %d", res.StatusCode)
	}
	return d
}

func head(method, path, authz, contentType string) string {
	h := method + " " + path + " HTTP/1.1\r\nHost: berth\r\nContent-Length: 10000\r\n" // under every body limit
	if authz != "" {
		h += "Authorization: " + authz + "\r\n"
	}
	if contentType != "" {
		h += "Content-Type: " + contentType + "\r\n"
	}
	return h + "\r\n"
}

// TestSlowBodiesAreCut: a body that pauses longer than --body-idle-timeout
// (one byte every 1.5 s) or stays under --body-min-rate (10 bytes/s) is cut
// about --body-idle-timeout after the request head, on every endpoint that
// reads a body, with a 4xx answer and the connection closed. What a cut
// upload leaves behind is what a disconnect leaves: the bytes that arrived,
// recorded in the session; nothing for a monolithic upload.
func TestSlowBodiesAreCut(t *testing.T) {
	addr, dataDir := limitServer(t, nil)
	type endpoint struct {
		name, head, want string
	}
	var endpoints []endpoint
	sessions := map[string]bool{}
	for i, every := range []string{"idle", "rate"} {
		loc := startSession(t, addr, "library/slow")
		sessions[filepath.Base(loc)] = true
		endpoints = append(endpoints,
			endpoint{"upload-patch-" + every, head("PATCH", loc, adminBasic, "application/octet-stream"), "HTTP/1.1 408"},
			endpoint{"upload-monolithic-" + every, head("POST", "/v2/library/slow/blobs/uploads/?digest="+digest.FromString(every).String(), adminBasic, ""), "HTTP/1.1 408"},
			endpoint{"manifest-put-" + every, head("PUT", fmt.Sprintf("/v2/library/slow/manifests/t%d", i), adminBasic, manifestType), "HTTP/1.1 408"},
			endpoint{"api-" + every, head("POST", "/api/v2.0/projects", adminBasic, "application/json"), "HTTP/1.1 400"},
			endpoint{"token-" + every, head("POST", "/service/token", "", "application/x-www-form-urlencoded"), "HTTP/1.1 400"},
			endpoint{"login-" + every, head("POST", "/c/login", "", "application/x-www-form-urlencoded"), "HTTP/1.1 400"},
		)
	}
	var wg sync.WaitGroup
	results := make([]trickled, len(endpoints))
	for i, e := range endpoints {
		every := 1500 * time.Millisecond // pauses longer than the idle timeout
		if strings.HasSuffix(e.name, "rate") {
			every = 100 * time.Millisecond // 10 bytes/s, far under the minimum rate
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = trickle(addr, e.head, every)
		}()
	}
	wg.Wait()
	for i, e := range endpoints {
		r := results[i]
		// The deadline may be applied up to 1/8 of the timeout early.
		if !strings.HasPrefix(r.status, e.want) || r.after < testIdle*3/4 || r.after > testIdle+1500*time.Millisecond || !r.closed {
			t.Errorf("%s: %q after %s (closed %v), want %s after about %s and a closed connection",
				e.name, r.status, r.after.Round(time.Millisecond), r.closed, e.want, testIdle)
		}
	}
	// Only the sessions hold upload bytes, as many as their status reports.
	files, _ := os.ReadDir(filepath.Join(dataDir, "uploads"))
	for _, f := range files {
		if !sessions[f.Name()] {
			t.Errorf("upload bytes left behind: %s", f.Name())
			continue
		}
		info, _ := f.Info()
		req, _ := http.NewRequest("GET", "http://"+addr+"/v2/library/slow/blobs/uploads/"+f.Name(), nil)
		req.Header.Set("Authorization", adminBasic)
		res, err := noKeepAlive.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := fmt.Sprintf("0-%d", max(info.Size()-1, 0)); res.StatusCode != 204 || res.Header.Get("Range") != want {
			t.Errorf("session %s: %d Range %q, file has %d bytes", f.Name(), res.StatusCode, res.Header.Get("Range"), info.Size())
		}
	}
}

// TestExpectContinueRefusedPromptly: a request that waits for "100
// Continue" and is refused before its body is read gets its answer at
// once, not after the client or the body deadline gives up.
func TestExpectContinueRefusedPromptly(t *testing.T) {
	addr, _ := limitServer(t, nil)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "PUT /v2/library/x/manifests/t HTTP/1.1\r\nHost: berth\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 401") || time.Since(start) > testIdle/2 {
		t.Fatalf("%q %v after %s, want 401 at once", line, err, time.Since(start))
	}
}

// TestSteadyTransfersOutliveTheTimeouts: an upload that streams steadily
// for longer than the idle timeouts completes, and so does a download read
// steadily but slowly.
func TestSteadyTransfersOutliveTheTimeouts(t *testing.T) {
	addr, _ := limitServer(t, nil)
	loc := startSession(t, addr, "library/steady")
	content := make([]byte, 25*8<<10)
	_, _ = rand.Read(content)
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(content); i += 8 << 10 { // 80 KiB/s for 2.5 s
			time.Sleep(100 * time.Millisecond)
			if _, err := pw.Write(content[i : i+8<<10]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PATCH", "http://"+addr+loc, pr)
	req.Header.Set("Authorization", adminBasic)
	start := time.Now()
	res, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 202 || res.Header.Get("Range") != fmt.Sprintf("0-%d", len(content)-1) || time.Since(start) < 2*testIdle {
		t.Fatalf("steady PATCH: %d Range %q after %s", res.StatusCode, res.Header.Get("Range"), time.Since(start))
	}
	d := digest.FromBytes(content)
	req, _ = http.NewRequest("PUT", "http://"+addr+loc+"?digest="+d.String(), nil)
	req.Header.Set("Authorization", adminBasic)
	if res, err = noKeepAlive.Do(req); err != nil || res.StatusCode != 201 {
		t.Fatalf("complete upload: %v %v", res, err)
	}
	res.Body.Close()

	// 12 MiB read 64 KiB every 10 ms: 2 s or more. (Much slower readers are
	// cut with a 1 s timeout: the server can write again only once the
	// client has drained a third of the socket's send buffer, about 4 MiB
	// on loopback.)
	big := make([]byte, 12<<20)
	_, _ = rand.Read(big)
	bd := pushBlob(t, addr, "library/steady", big)
	req, _ = http.NewRequest("GET", "http://"+addr+"/v2/library/steady/blobs/"+bd.String(), nil)
	req.Header.Set("Authorization", adminBasic)
	if res, err = noKeepAlive.Do(req); err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got := make([]byte, 0, len(big)) // no pause of the reader to grow it
	buf := make([]byte, 64<<10)
	start = time.Now()
	var rerr error
	for rerr == nil && time.Since(start) < 20*time.Second {
		var n int
		n, rerr = io.ReadFull(res.Body, buf)
		got = append(got, buf[:n]...)
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Equal(got, big) || time.Since(start) < testIdle*3/2 {
		t.Fatalf("steady download: %d of %d bytes in %s (%v)", len(got), len(big), time.Since(start), rerr)
	}
}

// dialSmallWindow connects with a 16 KiB receive buffer, so that a
// response nobody reads fills the window quickly.
func dialSmallWindow(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		if err != nil {
			return err
		}
		return serr
	}}
	return d.Dial("tcp", addr)
}

// TestUnreadResponseIsCut: a client that asks for a 16 MiB blob and reads
// nothing is cut once the server has been unable to write for
// --write-idle-timeout: what it can read afterwards is only what was
// already buffered, then the end of the connection.
func TestUnreadResponseIsCut(t *testing.T) {
	addr, _ := limitServer(t, nil)
	big := make([]byte, 16<<20)
	_, _ = rand.Read(big)
	d := pushBlob(t, addr, "library/unread", big)
	c, err := dialSmallWindow(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /v2/library/unread/blobs/"+d.String()+" HTTP/1.1\r\nHost: berth\r\nAuthorization: "+adminBasic+"\r\n\r\n")
	time.Sleep(testIdle + 2*time.Second)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if os.IsTimeout(err) || n >= int64(len(big)) {
		t.Fatalf("read %d bytes of a %d-byte answer (err %v): the server did not cut the stalled response", n, len(big), err)
	}
	t.Logf("the stalled client got %d bytes before the cut", n)
}

// TestConnectionCapKeepsHealth: with every slot of --max-connections held
// by slow clients, other clients get a prompt 503 instead of a hang, the
// health endpoints still answer (on the main listener, from the reserve,
// and on --health-addr), and once the slow clients are cut new clients
// are served again.
func TestConnectionCapKeepsHealth(t *testing.T) {
	const slots = 4
	healthAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	addr, _ := limitServer(t, func(c *config.Config) {
		c.Limits.MaxConnections = slots
		c.Limits.BodyIdleTimeout = 3 * time.Second
		c.Limits.HealthAddr = healthAddr
	})
	if st, _ := get(t, "http://"+addr+"/v2/", true); st != 200 {
		t.Fatalf("before: /v2/ %d", st)
	}
	var wg sync.WaitGroup
	slow := make([]trickled, slots)
	for i := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A connection the server has not closed yet (the answer
			// came first) may still hold a slot: try again if turned away.
			for range 20 {
				slow[i] = trickle(addr, head("PUT", fmt.Sprintf("/v2/library/cap/manifests/t%d", i), adminBasic, manifestType), 300*time.Millisecond)
				if !strings.HasPrefix(slow[i].status, "HTTP/1.1 503") {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	// Once the slow clients hold every slot, the others are turned away.
	var st int
	var body []byte
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, body = get(t, "http://"+addr+"/v2/", true); st == 503 {
			break
		}
	}
	if st != 503 || !strings.Contains(string(body), "UNAVAILABLE") {
		t.Errorf("with every slot taken: /v2/ %d %s, want 503", st, body)
	}
	for _, url := range []string{"http://" + addr + "/livez", "http://" + addr + "/readyz", "http://" + healthAddr + "/livez", "http://" + healthAddr + "/readyz"} {
		if st, body := get(t, url, false); st != 200 || string(body) != "ok\n" {
			t.Errorf("with every slot taken: %s %d %q", url, st, body)
		}
	}
	if st, _ := get(t, "http://"+healthAddr+"/v2/", true); st != 404 {
		t.Errorf("health listener serves /v2/: %d", st)
	}
	wg.Wait()
	for i, r := range slow {
		if !strings.HasPrefix(r.status, "HTTP/1.1 408") {
			t.Errorf("slow client %d: %q after %s", i, r.status, r.after)
		}
	}
	// The slots are free again.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, _ = get(t, "http://"+addr+"/v2/", true); st == 200 {
			break
		}
	}
	if st != 200 {
		t.Errorf("after the slow clients were cut: /v2/ %d", st)
	}
}

// BenchmarkBlobPull pulls a 64 MiB blob over loopback through the whole
// chain (capped listener, limits, access log, registry). Run under
// `strace -f -e trace=sendfile` it shows the bytes leave by sendfile.
func BenchmarkBlobPull(b *testing.B) {
	addr, _ := limitServer(b, func(c *config.Config) { c.Limits = config.DefaultLimits() })
	big := make([]byte, 64<<20)
	_, _ = rand.Read(big)
	d := pushBlob(b, addr, "library/bench", big)
	req, _ := http.NewRequest("GET", "http://"+addr+"/v2/library/bench/blobs/"+d.String(), nil)
	req.Header.Set("Authorization", adminBasic)
	client := &http.Client{Transport: &http.Transport{}}
	b.SetBytes(int64(len(big)))
	for b.Loop() {
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || n != int64(len(big)) {
			b.Fatalf("%d bytes: %v", n, err)
		}
	}
}

// TestConnSlots: the cap fits the open-file limit, keeping headroom and a
// reserve; the configured value wins when it fits.
func TestConnSlots(t *testing.T) {
	for _, c := range []struct {
		want          int
		nofile        uint64
		max, reserved int
	}{
		{10000, 1 << 20, 10000, 32},
		{10000, 4096, 1920 - 32, 32}, // (4096-256)/2 = 1920 descriptors' worth
		{10000, 200, 75 - 9, 9},      // the review's 200-descriptor process
		{50, 4096, 50, 32},
		{10000, 4, 1, 1},
		{10000, 0, 10000, 32}, // limit unknown
	} {
		if m, r := connSlots(c.want, c.nofile); m != c.max || r != c.reserved {
			t.Errorf("connSlots(%d, %d) = %d, %d; want %d, %d", c.want, c.nofile, m, r, c.max, c.reserved)
		}
	}
	got := raiseOpenFileLimit(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || got != lim.Cur || lim.Cur != lim.Max {
		t.Errorf("raiseOpenFileLimit = %d, limit now %+v (%v)", got, lim, err)
	}
}
