package httplimit

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func accept(l *Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

// TestListener: max connections, then reserve ones marked as overflow,
// then Accept waits until one closes; closing twice frees one slot; Close
// ends a waiting Accept.
func TestListener(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit(tcp, 2, 1)
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func() {
		c, err := net.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	var conns []net.Conn
	for i := range 3 {
		dial()
		c := <-accept(l)
		conns = append(conns, c)
		if got := Overflow(l.ConnContext(context.Background(), c)); got != (i == 2) {
			t.Fatalf("connection %d: overflow %v", i, got)
		}
		if _, ok := c.(io.ReaderFrom); !ok {
			t.Fatal("a connection without ReadFrom cannot use sendfile")
		}
	}
	dial()
	waiting := accept(l)
	select {
	case <-waiting:
		t.Fatal("a fourth connection was accepted")
	case <-time.After(100 * time.Millisecond):
	}
	conns[0].Close()
	conns[0].Close() // frees one slot, not two
	select {
	case c := <-waiting:
		if Overflow(l.ConnContext(context.Background(), c)) != true {
			t.Fatal("the fourth connection, accepted with 2 open, must be overflow")
		}
		conns[0] = c
	case <-time.After(2 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	if l.Open() != 3 {
		t.Fatalf("open = %d, want 3", l.Open())
	}
	dial()
	waiting = accept(l)
	l.Close()
	select {
	case c, ok := <-waiting:
		if ok {
			t.Fatalf("accepted %v after Close", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a waiting Accept")
	}
	for _, c := range conns {
		c.Close()
	}
	if l.Open() != 0 {
		t.Fatalf("open = %d after closing all", l.Open())
	}
}

// TestOverflowIsShed: on an overflow connection only reserved requests are
// served; the rest get 503 and the connection is closed.
func TestOverflowIsShed(t *testing.T) {
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		Options{BodyIdleTimeout: idle, WriteIdleTimeout: idle, Reserved: func(r *http.Request) bool { return r.URL.Path == "/livez" }})
	ctx := context.WithValue(context.Background(), overflowKey{}, true)
	for path, want := range map[string]int{"/livez": 200, "/v2/": 503} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader("body")).WithContext(ctx))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
		if want == 503 && (w.Header().Get("Connection") != "close" || !strings.Contains(w.Body.String(), "UNAVAILABLE")) {
			t.Errorf("%s: %v %s", path, w.Header(), w.Body)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v2/", nil))
	if w.Code != 200 {
		t.Errorf("a normal connection: %d", w.Code)
	}
}
