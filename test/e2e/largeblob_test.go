package e2e

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/test/berthproc"
)

// blobSource yields size bytes: a random 1 MiB block, stamped with its
// index so no two blocks are equal, generated on the fly (never held whole).
type blobSource struct {
	block     []byte
	size, off int64
}

func newBlobSource(size int64) *blobSource {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return &blobSource{block: b, size: size}
}

func (s *blobSource) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	blockOff := s.off % int64(len(s.block))
	if blockOff == 0 {
		binary.LittleEndian.PutUint64(s.block, uint64(s.off))
	}
	n := copy(p, s.block[blockOff:min(int64(len(s.block)), blockOff+s.size-s.off)])
	s.off += int64(n)
	return n, nil
}

func largeSize(t *testing.T) int64 {
	mib := int64(1024)
	if v := os.Getenv("BERTH_LARGE_BLOB_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		mib = n
	}
	return mib << 20
}

// TestLargeBlobFlatMemory streams a 1 GiB blob in and out of the real binary
// and checks the server's peak RSS stays under 100 MiB: bodies are streamed,
// never buffered whole.
func TestLargeBlobFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large blob test skipped in -short mode")
	}
	size := largeSize(t)
	srv := berthproc.Start(t, t.TempDir(), "--access-log=false")
	_, idlePeak, err := srv.RSS()
	if err != nil {
		t.Fatal(err)
	}

	h := sha256.New()
	start := time.Now()
	res, err := http.Post(srv.URL+"/v2/big/blob/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	// A streamed PATCH without Content-Length: chunked transfer encoding.
	req, _ := http.NewRequest("PATCH", srv.URL+loc, io.TeeReader(newBlobSource(size), h))
	req.ContentLength = -1
	res, err = berthproc.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %d", res.StatusCode)
	}
	d := digest.NewDigest(digest.SHA256, h)
	req, _ = http.NewRequest("PUT", srv.URL+res.Header.Get("Location")+"?digest="+string(d), nil)
	res, err = berthproc.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d", res.StatusCode)
	}
	pushDur := time.Since(start)
	_, pushPeak, _ := srv.RSS()

	start = time.Now()
	res, err = berthproc.Client.Get(srv.URL + "/v2/big/blob/blobs/" + string(d))
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err := io.Copy(h, res.Body)
	res.Body.Close()
	if err != nil || n != size || res.Header.Get("Content-Length") != strconv.FormatInt(size, 10) {
		t.Fatalf("GET: %d bytes, %v, Content-Length %q", n, err, res.Header.Get("Content-Length"))
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d {
		t.Fatalf("pulled digest %s, pushed %s", got, d)
	}
	pullDur := time.Since(start)
	_, peak, err := srv.RSS()
	if err != nil {
		t.Fatal(err)
	}
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	figures := fmt.Sprintf("%s blob: push %s (%.0f MB/s), pull %s (%.0f MB/s); server peak RSS idle %s, after push %s, after pull %s",
		mib(size), pushDur.Round(time.Millisecond), float64(size)/pushDur.Seconds()/1e6,
		pullDur.Round(time.Millisecond), float64(size)/pullDur.Seconds()/1e6, mib(idlePeak), mib(pushPeak), mib(peak))
	t.Log(figures)
	report.note("raw HTTP (Go client, streamed PATCH) %s", figures)
	if peak > 100<<20 {
		t.Fatalf("server peak RSS %s exceeds 100 MiB", mib(peak))
	}
}

// TestLargeLayerClient pushes and pulls a 1 GiB layer file through a real
// client (oras) and checks the digest and the server's peak RSS.
func TestLargeLayerClient(t *testing.T) {
	if testing.Short() {
		t.Skip("large blob test skipped in -short mode")
	}
	c := needClient(t, "oras", "oras")
	size := largeSize(t)
	srv := berthproc.Start(t, t.TempDir(), "--access-log=false")
	ref := srv.Addr + "/e2e/large/layer:v1"
	scenario := fmt.Sprintf("%d MiB layer push + pull, server RSS < 100 MiB", size>>20)
	c.auth = "off"

	// The layer file on disk, and its digest.
	f, err := os.Create(filepath.Join(c.home, "layer.bin"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), newBlobSource(size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := digest.NewDigest(digest.SHA256, h)

	c.step(scenario, func(c *client) {
		oras := func(args ...string) time.Duration {
			start := time.Now()
			if out, err := c.runErr(10*time.Minute, nil, append(args, "--plain-http")...); err != nil {
				c.t.Fatalf("oras %s: %v\n%s", args[0], err, out)
			}
			return time.Since(start)
		}
		pushDur := oras("push", ref, "layer.bin:application/vnd.oci.image.layer.v1.tar")
		_, pushPeak, err := srv.RSS()
		if err != nil {
			c.t.Fatal(err)
		}
		pullDur := oras("pull", ref, "-o", "pulled")
		_, peak, err := srv.RSS()
		if err != nil {
			c.t.Fatal(err)
		}
		got, n := fileDigest(c.t, filepath.Join(c.home, "pulled", "layer.bin"))
		if got != want || n != size {
			c.t.Fatalf("pulled %d bytes with digest %s, pushed %d bytes with %s", n, got, size, want)
		}
		mib := func(b int64) float64 { return float64(b) / (1 << 20) }
		figures := fmt.Sprintf("oras %s: %d MiB layer pushed in %s (%.0f MB/s), pulled in %s (%.0f MB/s), digest matches; "+
			"berth peak RSS %.1f MiB after push, %.1f MiB after pull (limit 100 MiB)", c.version, size>>20,
			pushDur.Round(100*time.Millisecond), float64(size)/pushDur.Seconds()/1e6,
			pullDur.Round(100*time.Millisecond), float64(size)/pullDur.Seconds()/1e6, mib(pushPeak), mib(peak))
		c.t.Log(figures)
		report.note("%s", figures)
		if peak > 100<<20 {
			c.t.Fatalf("server peak RSS %.1f MiB exceeds 100 MiB", mib(peak))
		}
	})
}

// fileDigest is the sha256 digest and size of the file at path.
func fileDigest(t *testing.T, path string) (digest.Digest, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return digest.NewDigest(digest.SHA256, h), n
}
