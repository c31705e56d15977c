package registry

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
)

// TestReadOnly: in read-only mode pushes, uploads and deletes are refused
// with 403 DENIED and pulls still work; leaving the mode takes effect on
// the next request.
func TestReadOnly(t *testing.T) {
	var ro atomic.Bool
	e := newEnv(t, Options{ReadOnly: ro.Load})
	d, _ := e.pushImage("p/app", "v1", []byte("layer"))
	ro.Store(true)
	for _, w := range []struct {
		method, path string
		body         []byte
	}{
		{"POST", "/v2/p/app/blobs/uploads/", nil},
		{"POST", "/v2/p/app/blobs/uploads/?digest=" + string(d), []byte("x")},
		{"PUT", "/v2/p/app/manifests/v2", imageManifest(d, 1, d, 1)},
		{"DELETE", "/v2/p/app/manifests/" + string(d), nil},
		{"DELETE", "/v2/p/app/blobs/" + string(d), nil},
		{"PATCH", "/v2/p/app/blobs/uploads/nosuchupload", []byte("x")},
	} {
		r := e.do(w.method, w.path, bytes.NewReader(w.body))
		e.expect(r, http.StatusForbidden, "DENIED")
		if !bytes.Contains(r.body, []byte("read only mode")) {
			t.Errorf("%s %s: %s", w.method, w.path, r.body)
		}
	}
	e.expect(e.do("GET", "/v2/p/app/manifests/v1", nil), http.StatusOK, "")
	e.expect(e.do("HEAD", "/v2/p/app/manifests/v1", nil), http.StatusOK, "")
	e.expect(e.do("GET", "/v2/p/app/tags/list", nil), http.StatusOK, "")
	ro.Store(false)
	e.pushImage("p/app", "v2", []byte("another layer"))
}
