package registry

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// TestBadInput sends malformed requests of every kind and checks each gets
// the right OCI error code and status, never a 5xx, and that nothing is left
// behind: no upload bytes without a session, no leaked goroutines.
func TestBadInput(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t, Options{MaxManifestSize: 4096, MaxBlobSize: 1 << 20})
	layer := []byte("layer bytes")
	e.pushImage("good/repo", "v1", layer)
	ld := digest.FromBytes(layer)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := digest.FromBytes(cfg)
	ct := []string{"Content-Type", oci.MediaTypeImageManifest}
	put := func(ref string, body []byte, hdr ...string) resp {
		return e.do("PUT", "/v2/good/repo/manifests/"+ref, bytes.NewReader(body), hdr...)
	}
	missing := digest.FromString("never pushed")
	hex64 := strings.Repeat("a", 64)

	cases := []struct {
		name   string
		r      func() resp
		status int
		code   string
	}{
		{"uppercase name", func() resp { return e.do("GET", "/v2/Good/repo/tags/list", nil) }, 400, "NAME_INVALID"},
		{"dotdot name", func() resp { return e.do("GET", "/v2/good/../etc/tags/list", nil) }, 400, "NAME_INVALID"},
		{"encoded traversal", func() resp { return e.do("GET", "/v2/%2e%2e/%2e%2e/manifests/latest", nil) }, 400, "NAME_INVALID"},
		{"traversal in digest", func() resp { return e.do("GET", "/v2/good/repo/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd", nil) }, 400, "DIGEST_INVALID"},
		{"bad digest hex", func() resp { return e.do("GET", "/v2/good/repo/blobs/sha256:xyz", nil) }, 400, "DIGEST_INVALID"},
		{"unsupported algorithm", func() resp { return e.do("HEAD", "/v2/good/repo/blobs/md5:"+hex64[:32], nil) }, 400, ""},
		{"unknown blob", func() resp { return e.do("GET", "/v2/good/repo/blobs/"+string(missing), nil) }, 404, "BLOB_UNKNOWN"},
		{"blob of other repo", func() resp { return e.do("GET", "/v2/other/repo/blobs/"+string(ld), nil) }, 404, "BLOB_UNKNOWN"},
		{"bad tag", func() resp { return e.do("GET", "/v2/good/repo/manifests/-bad", nil) }, 400, "MANIFEST_INVALID"},
		{"bad manifest digest", func() resp { return e.do("GET", "/v2/good/repo/manifests/sha256:bad", nil) }, 400, "DIGEST_INVALID"},
		{"unknown tag", func() resp { return e.do("GET", "/v2/good/repo/manifests/nope", nil) }, 404, "MANIFEST_UNKNOWN"},
		{"unknown manifest digest", func() resp { return e.do("HEAD", "/v2/good/repo/manifests/"+string(missing), nil) }, 404, ""},
		{"not json", func() resp { return put("x", []byte("{"), ct...) }, 400, "MANIFEST_INVALID"},
		{"json array", func() resp { return put("x", []byte("[1,2]"), ct...) }, 400, "MANIFEST_INVALID"},
		{"missing blob", func() resp { return put("x", imageManifest(cd, int64(len(cfg)), missing, 3), ct...) }, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"wrong size", func() resp { return put("x", imageManifest(cd, int64(len(cfg)), ld, 999), ct...) }, 400, "MANIFEST_INVALID"},
		{"media type mismatch", func() resp {
			return put("x", imageManifest(cd, int64(len(cfg)), ld, int64(len(layer))), "Content-Type", oci.MediaTypeImageIndex)
		}, 400, "MANIFEST_INVALID"},
		{"unknown media type", func() resp { return put("x", []byte(`{"schemaVersion":2,"mediaType":"text/plain"}`)) }, 400, "MANIFEST_INVALID"},
		{"missing index child", func() resp {
			return put("x", []byte(`{"schemaVersion":2,"mediaType":"`+oci.MediaTypeImageIndex+`","manifests":[{"mediaType":"`+
				oci.MediaTypeImageManifest+`","digest":"`+string(missing)+`","size":10}]}`))
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"oversized manifest", func() resp { return put("x", bytes.Repeat([]byte(" "), 5000), ct...) }, 413, "MANIFEST_INVALID"},
		{"oversized chunked manifest", func() resp {
			return e.do("PUT", "/v2/good/repo/manifests/x", io.MultiReader(strings.NewReader(strings.Repeat(" ", 5000))), ct...)
		}, 413, "MANIFEST_INVALID"},
		{"digest mismatch on manifest", func() resp {
			return put("sha256:"+hex64, imageManifest(cd, int64(len(cfg)), ld, int64(len(layer))), ct...)
		}, 400, "DIGEST_INVALID"},
		{"bad tag param", func() resp {
			return put(string(digest.FromBytes(imageManifest(cd, int64(len(cfg)), ld, int64(len(layer)))))+"?tag=-x",
				imageManifest(cd, int64(len(cfg)), ld, int64(len(layer))), ct...)
		}, 400, "MANIFEST_INVALID"},
		{"monolithic digest mismatch", func() resp {
			return e.do("POST", "/v2/good/repo/blobs/uploads/?digest="+string(missing), bytes.NewReader([]byte("abc")))
		}, 400, "DIGEST_INVALID"},
		{"monolithic bad digest", func() resp {
			return e.do("POST", "/v2/good/repo/blobs/uploads/?digest=sha256:zz", bytes.NewReader([]byte("abc")))
		}, 400, "DIGEST_INVALID"},
		{"blob too large", func() resp {
			big := bytes.Repeat([]byte("x"), 1<<20+1)
			return e.do("POST", "/v2/good/repo/blobs/uploads/?digest="+string(digest.FromBytes(big)), bytes.NewReader(big))
		}, 413, "SIZE_INVALID"},
		{"mount bad digest", func() resp { return e.do("POST", "/v2/good/repo/blobs/uploads/?mount=sha256:x&from=a", nil) }, 400, "DIGEST_INVALID"},
		{"mount bad from", func() resp { return e.do("POST", "/v2/good/repo/blobs/uploads/?mount="+string(ld)+"&from=..", nil) }, 400, "NAME_INVALID"},
		{"unknown upload", func() resp { return e.do("GET", "/v2/good/repo/blobs/uploads/"+hex64[:32], nil) }, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"invalid upload id", func() resp { return e.do("PATCH", "/v2/good/repo/blobs/uploads/..%2f..%2fmeta.db", nil) }, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"short upload id", func() resp { return e.do("DELETE", "/v2/good/repo/blobs/uploads/abc", nil) }, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"put without digest", func() resp { return e.do("PUT", "/v2/good/repo/blobs/uploads/"+hex64[:32], nil) }, 400, "DIGEST_INVALID"},
		{"tags of unknown repo", func() resp { return e.do("GET", "/v2/no/such/tags/list", nil) }, 404, "NAME_UNKNOWN"},
		{"negative n", func() resp { return e.do("GET", "/v2/good/repo/tags/list?n=-1", nil) }, 400, "UNSUPPORTED"},
		{"non-numeric n", func() resp { return e.do("GET", "/v2/_catalog?n=abc", nil) }, 400, "UNSUPPORTED"},
		{"referrers bad digest", func() resp { return e.do("GET", "/v2/good/repo/referrers/latest", nil) }, 400, "DIGEST_INVALID"},
		{"delete unknown tag", func() resp { return e.do("DELETE", "/v2/good/repo/manifests/nope", nil) }, 404, "MANIFEST_UNKNOWN"},
		{"delete unknown blob", func() resp { return e.do("DELETE", "/v2/good/repo/blobs/"+string(missing), nil) }, 404, "BLOB_UNKNOWN"},
		{"method not allowed", func() resp { return e.do("POST", "/v2/good/repo/manifests/v1", nil) }, 405, "UNSUPPORTED"},
		{"unknown endpoint", func() resp { return e.do("GET", "/v2/good/repo/whatever/x", nil) }, 404, "UNSUPPORTED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.r()
			if r.status != c.status || (c.code != "" && r.code() != c.code) {
				t.Fatalf("got %d %s (%s), want %d %s", r.status, r.code(), r.body, c.status, c.code)
			}
			if c.code != "" && r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("error body is not JSON: %v", r.header)
			}
		})
	}
	// Nothing failed above may leave upload bytes behind.
	if files := e.uploadFiles(); len(files) != 0 {
		t.Errorf("upload files left behind: %v", files)
	}
	e.close()
	waitGoroutines(t, before)
}

// waitGoroutines fails if goroutines started during a test outlive it.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
	}
}

func startSession(e *testEnv, repo string) string {
	e.t.Helper()
	r := e.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	e.expect(r, http.StatusAccepted, "")
	return r.header.Get("Location")
}

func TestChunkRanges(t *testing.T) {
	e := newEnv(t, Options{})
	loc := startSession(e, "r")
	e.expect(e.do("PATCH", loc, bytes.NewReader([]byte("0123456789")), "Content-Range", "0-9"), 202, "")
	cases := []struct{ cr, body string }{{"0-9", "0123456789"}, {"5-14", "5678901234"}, {"11-20", "1234567890"}}
	for _, c := range cases {
		r := e.do("PATCH", loc, bytes.NewReader([]byte(c.body)), "Content-Range", c.cr)
		e.expect(r, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
		if r.header.Get("Range") != "0-9" || r.header.Get("Location") != loc {
			t.Errorf("%s: 416 must tell where to resume, got Range %q Location %q", c.cr, r.header.Get("Range"), r.header.Get("Location"))
		}
	}
	e.expect(e.do("PATCH", loc, bytes.NewReader([]byte("x")), "Content-Range", "garbage"), 400, "BLOB_UPLOAD_INVALID")
	e.expect(e.do("PATCH", loc, bytes.NewReader([]byte("xy")), "Content-Range", "10-19"), 400, "BLOB_UPLOAD_INVALID")
	// Another repository cannot touch this session.
	other := strings.Replace(loc, "/v2/r/", "/v2/s/", 1)
	e.expect(e.do("PATCH", other, bytes.NewReader([]byte("x"))), 404, "BLOB_UPLOAD_UNKNOWN")
	// The session is intact: finish it.
	e.expect(e.do("PATCH", loc, bytes.NewReader([]byte("abc")), "Content-Range", "10-12"), 202, "")
	d := digest.FromString("0123456789abc")
	r := e.do("PUT", loc+"?digest="+string(d), nil)
	e.expect(r, 201, "")
	if got := e.do("GET", "/v2/r/blobs/"+string(d), nil); string(got.body) != "0123456789abc" {
		t.Fatalf("blob = %q", got.body)
	}
}

func TestUploadDigestMismatchDropsSession(t *testing.T) {
	e := newEnv(t, Options{})
	loc := startSession(e, "r")
	e.expect(e.do("PATCH", loc, bytes.NewReader([]byte("hello"))), 202, "")
	e.expect(e.do("PUT", loc+"?digest="+string(digest.FromString("other")), nil), 400, "DIGEST_INVALID")
	e.expect(e.do("GET", loc, nil), 404, "BLOB_UPLOAD_UNKNOWN")
	if files := e.uploadFiles(); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}

// rawRequest sends head and then only part of a body, and hangs up.
func rawRequest(t *testing.T, e *testEnv, head string, partial []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write(partial)
	time.Sleep(50 * time.Millisecond)
	conn.Close()
}

func TestTruncatedBodies(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t, Options{})
	full := bytes.Repeat([]byte("0123456789"), 100)
	d := digest.FromBytes(full)

	// Monolithic upload cut short: no blob, and no bytes left behind.
	rawRequest(t, e, fmt.Sprintf("POST /v2/r/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", d, len(full)), full[:500])
	// A session whose PATCH is cut short keeps what arrived, so the client
	// can ask where to resume and finish the upload.
	loc := startSession(e, "r")
	rawRequest(t, e, fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", loc, len(full)), full[:300])
	var rng string
	for i := 0; i < 100; i++ { // the handler finishes after the hang-up
		rng = e.do("GET", loc, nil).header.Get("Range")
		if rng == "0-299" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rng != "0-299" {
		t.Fatalf("after a cut PATCH the session is at %q, want 0-299", rng)
	}
	e.expect(e.do("HEAD", "/v2/r/blobs/"+string(d), nil), 404, "")
	e.expect(e.do("PATCH", loc, bytes.NewReader(full[300:]), "Content-Range", fmt.Sprintf("300-%d", len(full)-1)), 202, "")
	e.expect(e.do("PUT", loc+"?digest="+string(d), nil), 201, "")
	if got := e.do("GET", "/v2/r/blobs/"+string(d), nil); !bytes.Equal(got.body, full) {
		t.Fatal("resumed blob differs")
	}
	if files := e.uploadFiles(); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	e.close()
	waitGoroutines(t, before)
}

// TestUploadSurvivesRestart closes every store between chunks.
func TestUploadSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir, Options{})
	loc := startSession(e, "a/b")
	e.expect(e.do("PATCH", loc, bytes.NewReader([]byte("first-")), "Content-Range", "0-5"), 202, "")
	e.close()
	e = openEnv(t, dir, Options{})
	r := e.do("GET", loc, nil)
	e.expect(r, 204, "")
	if r.header.Get("Range") != "0-5" {
		t.Fatalf("Range after restart = %q", r.header.Get("Range"))
	}
	e.expect(e.do("PATCH", loc, bytes.NewReader([]byte("second")), "Content-Range", "6-11"), 202, "")
	d := digest.FromString("first-second")
	e.expect(e.do("PUT", loc+"?digest="+string(d), nil), 201, "")
	if got := e.do("GET", "/v2/a/b/blobs/"+string(d), nil); string(got.body) != "first-second" {
		t.Fatalf("got %q", got.body)
	}
}

func TestSHA512Upload(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("sha512 content")
	d := digest.SHA512.FromBytes(content)
	loc := startSession(e, "r")
	e.expect(e.do("PATCH", loc, bytes.NewReader(content)), 202, "")
	e.expect(e.do("PUT", loc+"?digest="+string(d), nil), 201, "")
	r := e.do("GET", "/v2/r/blobs/"+string(d), nil)
	if !bytes.Equal(r.body, content) || r.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatalf("got %q %v", r.body, r.header)
	}
}

func TestDeleteDisabled(t *testing.T) {
	e := newEnv(t, Options{})
	e.reg.opt.DeleteEnabled = false
	md, _ := e.pushImage("r", "v1", []byte("x"))
	e.expect(e.do("DELETE", "/v2/r/manifests/"+string(md), nil), 405, "UNSUPPORTED")
	e.expect(e.do("DELETE", "/v2/r/manifests/v1", nil), 405, "UNSUPPORTED")
	e.expect(e.do("DELETE", "/v2/r/blobs/"+string(digest.FromString("x")), nil), 405, "UNSUPPORTED")
	e.expect(e.do("GET", "/v2/r/manifests/v1", nil), 200, "")
}

func TestListingPages(t *testing.T) {
	e := newEnv(t, Options{MaxPageSize: 3})
	md, man := e.pushImage("r", "t0", []byte("x"))
	tags := []string{"t0"}
	for i := 1; i < 7; i++ {
		tag := fmt.Sprintf("t%d", i)
		tags = append(tags, tag)
		e.expect(e.do("PUT", "/v2/r/manifests/"+tag, bytes.NewReader(man), "Content-Type", oci.MediaTypeImageManifest), 201, "")
	}
	var got []string
	next := "/v2/r/tags/list?n=2"
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		r := e.do("GET", next, nil)
		var body struct{ Tags []string }
		mustUnmarshal(t, r.body, &body)
		got = append(got, body.Tags...)
		next = linkTarget(r.header.Get("Link"))
	}
	if !slices.Equal(got, tags) {
		t.Fatalf("paged tags = %v, want %v", got, tags)
	}
	// Without n, the page is MaxPageSize and a Link follows.
	r := e.do("GET", "/v2/r/tags/list", nil)
	if !strings.Contains(string(r.body), `["t0","t1","t2"]`) || r.header.Get("Link") == "" {
		t.Fatalf("default page: %s %v", r.body, r.header)
	}
	if r := e.do("GET", "/v2/r/tags/list?n=0", nil); !strings.Contains(string(r.body), `"tags":[]`) {
		t.Fatalf("n=0: %s", r.body)
	}
	if r := e.do("GET", "/v2/_catalog?n=1", nil); string(r.body) != `{"repositories":["r"]}` {
		t.Fatalf("catalog: %s", r.body)
	}
	_ = md
}

func linkTarget(link string) string {
	if link == "" {
		return ""
	}
	start, end := strings.IndexByte(link, '<'), strings.IndexByte(link, '>')
	return link[start+1 : end]
}
