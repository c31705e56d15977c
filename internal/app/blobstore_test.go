package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/test/pgserver"
	"github.com/berth-registry/berth/test/s3server"
)

func s3Config(srv *s3server.Server, bucket, dataDir string) config.Config {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.Auth.Enabled = false
	cfg.Storage.Kind = "s3"
	cfg.Storage.S3 = config.S3{Endpoint: srv.Endpoint(), Bucket: bucket, Prefix: "reg", Region: s3server.Region,
		AccessKey: s3server.AccessKey, SecretKey: s3server.SecretKey, PathStyle: true, Redirect: true}
	return cfg
}

// do sends a request without following redirects.
func do(t *testing.T, method, u string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// pushChunked pushes data to repo in chunks, each PATCH to the next of
// addrs in turn (replicas), and the final PUT to the first.
func pushChunked(t *testing.T, addrs []string, repo string, data []byte, chunks ...int) digest.Digest {
	t.Helper()
	res, _ := do(t, "POST", "http://"+addrs[0]+"/v2/"+repo+"/blobs/uploads/", nil)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload = %s", res.Status)
	}
	loc := res.Header.Get("Location")
	off := 0
	for i, n := range chunks {
		res, _ = do(t, "PATCH", "http://"+addrs[i%len(addrs)]+loc, data[off:off+n],
			"Content-Type", "application/octet-stream", "Content-Range", rangeOf(off, n))
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH chunk %d = %s", i, res.Status)
		}
		loc, off = res.Header.Get("Location"), off+n
	}
	d := digest.FromBytes(data)
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	res, b := do(t, "PUT", "http://"+addrs[0]+loc+sep+"digest="+url.QueryEscape(d.String()), data[off:])
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT upload = %s %s", res.Status, b)
	}
	return d
}

func rangeOf(off, n int) string { return fmt.Sprintf("%d-%d", off, off+n-1) }

// TestRunOnS3 runs berth with --storage s3: a chunked push (chunks under
// and across S3's 5 MiB part minimum) lands in the bucket; GET streams it
// through berth with --s3-redirect=false, and with redirects (the
// default) answers 307 to a presigned URL that serves the bytes, Range
// included, while HEAD stays local. A restart keeps everything.
func TestRunOnS3(t *testing.T) {
	srv := s3server.ForTest(t)
	cfg := s3Config(srv, srv.NewBucket(t), t.TempDir())
	cfg.Storage.S3.Redirect = false
	addr, stop := startApp(t, cfg)
	defer stop()
	data := bytes.Repeat([]byte("layer bytes in S3 "), 400_000) // 7.2 MB
	d := pushChunked(t, []string{addr}, "s3/test", data, 1, 3<<20, 2<<20, 10)
	blobURL := "http://" + addr + "/v2/s3/test/blobs/" + d.String()
	if res, b := do(t, "GET", blobURL, nil); res.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Fatalf("GET streamed = %s, %d bytes", res.Status, len(b))
	}
	if res, b := do(t, "GET", blobURL, nil, "Range", "bytes=5242879-5242890"); res.StatusCode != 206 || !bytes.Equal(b, data[5242879:5242891]) {
		t.Fatalf("GET Range streamed = %s %q", res.Status, b)
	}
	if res, _ := do(t, "GET", "http://"+addr+"/readyz", nil); res.StatusCode != 200 {
		t.Fatalf("/readyz = %s", res.Status)
	}
	stop()

	cfg.Storage.S3.Redirect = true
	addr, stop = startApp(t, cfg)
	defer stop()
	blobURL = "http://" + addr + "/v2/s3/test/blobs/" + d.String()
	res, _ := do(t, "HEAD", blobURL, nil)
	if res.StatusCode != 200 || res.ContentLength != int64(len(data)) || res.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("HEAD = %s, length %d", res.Status, res.ContentLength)
	}
	res, _ = do(t, "GET", blobURL, nil)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, srv.Endpoint()+"/") {
		t.Fatalf("GET = %s, Location %q; want 307 to %s", res.Status, loc, srv.Endpoint())
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("redirect headers: %v", res.Header)
	}
	if res, b := do(t, "GET", loc, nil); res.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Fatalf("GET presigned URL = %s, %d bytes", res.Status, len(b))
	}
	if res, b := do(t, "GET", loc, nil, "Range", "bytes=10-19"); res.StatusCode != 206 || !bytes.Equal(b, data[10:20]) {
		t.Fatalf("GET presigned URL with Range = %s %q", res.Status, b)
	}
	// A client that follows redirects just gets the blob.
	gr, err := http.Get(blobURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(gr.Body)
	gr.Body.Close()
	if gr.StatusCode != 200 || digest.FromBytes(b) != d {
		t.Fatalf("GET following the redirect = %s, %d bytes", gr.Status, len(b))
	}
	// Unknown blobs are still 404, not a redirect.
	if res, _ := do(t, "GET", "http://"+addr+"/v2/s3/test/blobs/"+digest.FromString("nope").String(), nil); res.StatusCode != 404 {
		t.Fatalf("GET of an unknown blob = %s", res.Status)
	}
	// /readyz follows the bucket's health.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if res, b := do(t, "GET", "http://"+addr+"/readyz", nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with S3 down = %s %s", res.Status, b)
	}
}

// TestS3Replicas: two berth processes on one PostgreSQL database and one
// bucket take turns at the chunks of one upload.
func TestS3Replicas(t *testing.T) {
	pg := pgserver.ForTest(t)
	dbURL, err := pg.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv := s3server.ForTest(t)
	bucket := srv.NewBucket(t)
	var addrs []string
	for range 2 {
		cfg := s3Config(srv, bucket, t.TempDir())
		cfg.Database.URL = dbURL
		addr, stop := startApp(t, cfg)
		defer stop()
		addrs = append(addrs, addr)
	}
	data := bytes.Repeat([]byte("0123456789"), 1_200_000) // 12 MB
	d := pushChunked(t, addrs, "rep/test", data, 4<<20, 1, 3<<20, 1<<20, 2<<20)
	for _, addr := range addrs {
		gr, err := http.Get("http://" + addr + "/v2/rep/test/blobs/" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(gr.Body)
		gr.Body.Close()
		if gr.StatusCode != 200 || !bytes.Equal(b, data) {
			t.Fatalf("GET via %s = %s, %d bytes", addr, gr.Status, len(b))
		}
	}
}
