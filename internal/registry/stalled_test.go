package registry

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// stalled yields some bytes, then the error a read deadline gives (what
// internal/httplimit makes of a body that stopped arriving).
type stalled struct{ r io.Reader }

func (s *stalled) Read(p []byte) (int, error) {
	if n, _ := s.r.Read(p); n > 0 {
		return n, nil
	}
	return 0, fmt.Errorf("request body too slow (read tcp: %w)", os.ErrDeadlineExceeded)
}

// TestStalledBodies: a body cut by a read deadline answers 408 and leaves
// exactly what a hang-up leaves (TestTruncatedBodies): nothing of a
// monolithic upload, the received bytes of a session's PATCH.
func TestStalledBodies(t *testing.T) {
	e := newEnv(t, Options{})
	full := bytes.Repeat([]byte("0123456789"), 100)
	d := digest.FromBytes(full)
	serve := func(method, path string, body []byte, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, &stalled{bytes.NewReader(body)})
		req.ContentLength = int64(len(full))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		e.reg.ServeHTTP(w, req)
		return w
	}
	check := func(w *httptest.ResponseRecorder, code string) {
		t.Helper()
		if got := (resp{w.Code, w.Header(), w.Body.Bytes()}).code(); w.Code != http.StatusRequestTimeout || got != code {
			t.Fatalf("got %d %s, want 408 %s", w.Code, w.Body, code)
		}
	}
	check(serve("POST", "/v2/r/blobs/uploads/?digest="+string(d), full[:500]), "BLOB_UPLOAD_INVALID")
	if files := e.uploadFiles(); len(files) != 0 {
		t.Fatalf("a cut monolithic upload left %v", files)
	}
	loc := startSession(e, "r")
	check(serve("PATCH", loc, full[:300]), "BLOB_UPLOAD_INVALID")
	if rng := e.do("GET", loc, nil).header.Get("Range"); rng != "0-299" {
		t.Fatalf("after a stalled PATCH the session is at %q, want 0-299", rng)
	}
	e.expect(e.do("PATCH", loc, bytes.NewReader(full[300:]), "Content-Range", fmt.Sprintf("300-%d", len(full)-1)), 202, "")
	e.expect(e.do("PUT", loc+"?digest="+string(d), nil), 201, "")
	check(serve("PUT", "/v2/r/manifests/t", []byte(`{"schemaVersion":`), "Content-Type", oci.MediaTypeImageManifest), "MANIFEST_INVALID")
	if files := e.uploadFiles(); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}
