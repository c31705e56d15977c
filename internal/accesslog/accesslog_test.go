package accesslog

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(Handler{slog.NewJSONHandler(buf, nil)})
}

func TestRequestIDAndAccessLine(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf)
	var seen string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestID(r.Context())
		log.InfoContext(r.Context(), "inside")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "body")
	}), log, true)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v2/x", nil))
	if seen == "" || w.Header().Get("X-Request-Id") != seen {
		t.Fatalf("request id %q, header %q", seen, w.Header().Get("X-Request-Id"))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %q", lines)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "request" || rec["status"] != float64(418) || rec["bytes"] != float64(4) || rec["request_id"] != seen || rec["path"] != "/v2/x" {
		t.Fatalf("access line: %v", rec)
	}
	if !strings.Contains(lines[0], `"request_id":"`+seen+`"`) {
		t.Fatalf("a line logged with the request context lacks the id: %s", lines[0])
	}

	// A sane client id is kept; a hostile one is replaced.
	for id, keep := range map[string]bool{"abc-123": true, "x\ny": false, strings.Repeat("a", 65): false, `a"b`: false} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-Id", id)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("X-Request-Id") == id; got != keep {
			t.Errorf("client id %q kept=%v, want %v", id, got, keep)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	var buf bytes.Buffer
	h := Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), newLogger(&buf), false)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"UNKNOWN"`) || !strings.Contains(buf.String(), "boom") {
		t.Fatalf("got %d %q, log %q", w.Code, w.Body, buf.String())
	}
}

// readFromCounter records whether the inner writer's ReadFrom was used (the
// path to sendfile) and how much went through it.
type readFromCounter struct {
	http.ResponseWriter
	used bool
}

func (r *readFromCounter) ReadFrom(src io.Reader) (int64, error) {
	r.used = true
	return io.Copy(r.ResponseWriter, struct{ io.Reader }{src})
}

func TestServeContentKeepsReadFrom(t *testing.T) {
	f := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(f, bytes.Repeat([]byte("x"), 10000), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fh, _ := os.Open(f)
		defer fh.Close()
		http.ServeContent(w, r, "", time.Time{}, fh)
	}), newLogger(&buf), true)
	inner := &readFromCounter{ResponseWriter: httptest.NewRecorder()}
	h.ServeHTTP(inner, httptest.NewRequest("GET", "/", nil))
	if !inner.used {
		t.Fatal("ReadFrom was not forwarded: sendfile would be lost")
	}
	if !strings.Contains(buf.String(), `"bytes":10000`) {
		t.Fatalf("bytes not counted: %s", buf.String())
	}
}
