package s3_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/blobtest"
	blobs3 "github.com/berth-registry/berth/internal/blob/s3"
	"github.com/berth-registry/berth/test/s3server"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3server.Cleanup()
	os.Exit(code)
}

// newStore opens a store on a new bucket of the shared server (with a key
// prefix, as deployments sharing a bucket use).
func newStore(t *testing.T) *blobs3.Store {
	t.Helper()
	srv := s3server.Shared(t)
	return openStore(t, srv, srv.NewBucket(t))
}

func openStore(t *testing.T, srv *s3server.Server, bucket string) *blobs3.Store {
	t.Helper()
	s, err := blobs3.New(t.Context(), blobs3.Options{
		Endpoint: srv.Endpoint(), Bucket: bucket, Prefix: "berth/", Region: s3server.Region,
		AccessKey: s3server.AccessKey, SecretKey: s3server.SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatalf("opening the S3 store: %v", err)
	}
	return s
}

func TestSuite(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
}

func appendAt(t *testing.T, s *blobs3.Store, id string, offset int64, data []byte) {
	t.Helper()
	w, err := s.Append(t.Context(), id, offset)
	if err != nil {
		t.Fatalf("Append(%d): %v", offset, err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// segments lists an upload's segment sizes in offset order (the marker and
// segments off the chain are left out by following the chain).
func segments(t *testing.T, srv *s3server.Server, bucket, id string) []int64 {
	t.Helper()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	dir := "berth/uploads/" + id + "/"
	sizes := map[int64]int64{}
	for o := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		var start int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(o.Key, dir), "%020d", &start); err == nil {
			sizes[start] = o.Size
		}
	}
	var out []int64
	for pos := int64(0); sizes[pos] > 0; pos += sizes[pos] {
		out = append(out, sizes[pos])
	}
	return out
}

// checkLayout asserts the invariant S3's multipart rules need: every
// segment but a trailing run is at least 5 MiB, the run holds less.
func checkLayout(t *testing.T, sizes []int64, total int64) {
	t.Helper()
	var sum, run int64
	for i, n := range sizes {
		sum += n
		if n >= 5<<20 {
			if run > 0 {
				t.Fatalf("segments %v: a large segment (%d) follows small ones", sizes, i)
			}
			continue
		}
		run += n
	}
	if sum != total {
		t.Fatalf("segments %v hold %d bytes, want %d", sizes, sum, total)
	}
	if run >= 5<<20 {
		t.Fatalf("segments %v: trailing small segments hold %d bytes, not folded", sizes, run)
	}
}

// TestChunksAcrossReplicas pushes one upload in chunks of awkward sizes
// (1 byte, under and across 5 MiB), alternating between two stores on the
// same bucket as two replicas would, with a request that dies midway and
// is resumed on the other replica.
func TestChunksAcrossReplicas(t *testing.T) {
	srv := s3server.Shared(t)
	bucket := srv.NewBucket(t)
	replicas := []*blobs3.Store{openStore(t, srv, bucket), openStore(t, srv, bucket)}
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	id := blob.NewUploadID()
	var all []byte
	chunks := []int{1, 3 << 20, 2<<20 + 1, 100 << 10, 7 << 20, 1, 4 << 20, 5 << 20, 9<<20 + 3, 17}
	for i, n := range chunks {
		s := replicas[i%2]
		if i == 5 { // a request that stores 6 MiB and dies before its caller records it
			w, err := s.Append(ctx, id, int64(len(all)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(bytes.Repeat([]byte{0xee}, 6<<20)); err != nil {
				t.Fatal(err)
			}
			w.Abandon()
			s = replicas[(i+1)%2]
		}
		chunk := make([]byte, n)
		for j := range chunk {
			chunk[j] = byte(rng.Uint32())
		}
		w, err := s.Append(ctx, id, int64(len(all)))
		if err != nil {
			t.Fatalf("chunk %d: Append(%d): %v", i, len(all), err)
		}
		// In pieces, as a request body arrives.
		for p := chunk; len(p) > 0; {
			k := min(len(p), 256<<10)
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatalf("chunk %d: Close: %v", i, err)
		}
		all = append(all, chunk...)
		checkLayout(t, segments(t, srv, bucket, id), int64(len(all)))
	}
	rc, err := replicas[0].ReadUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, all) {
		t.Fatalf("ReadUpload: %d bytes, %v; want the %d bytes written", len(got), err, len(all))
	}
	d := digest.FromBytes(all)
	if err := replicas[1].Commit(ctx, id, digest.FromBytes(all[1:]), int64(len(all))); err == nil {
		t.Fatal("Commit with the wrong digest succeeded")
	}
	if err := replicas[1].Commit(ctx, id, d, int64(len(all))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	rsc, err := replicas[0].Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rsc.Close()
	if _, err := rsc.Seek(5<<20-1, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rsc)
	if err != nil || !bytes.Equal(got, all[5<<20-1:]) {
		t.Fatalf("blob from 5 MiB-1: %d bytes, %v; want %d", len(got), err, len(all)-(5<<20-1))
	}
	if us, err := replicas[0].Uploads(ctx); err != nil || len(us) != 0 {
		t.Fatalf("Uploads after Commit = %v, %v", us, err)
	}
}

// TestSmallChunksFolded: many small chunks end up as few segments.
func TestSmallChunksFolded(t *testing.T) {
	srv := s3server.Shared(t)
	bucket := srv.NewBucket(t)
	s := openStore(t, srv, bucket)
	id := blob.NewUploadID()
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var all []byte
	for range 12 {
		appendAt(t, s, id, int64(len(all)), chunk)
		all = append(all, chunk...)
	}
	sizes := segments(t, srv, bucket, id)
	checkLayout(t, sizes, int64(len(all)))
	if want := []int64{5 << 20, 5 << 20, 1 << 20, 1 << 20}; !slices.Equal(sizes, want) {
		t.Fatalf("segments %v, want %v", sizes, want)
	}
	d := digest.FromBytes(all)
	if err := s.Commit(t.Context(), id, d, int64(len(all))); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Stat(t.Context(), d); err != nil || n != int64(len(all)) {
		t.Fatalf("Stat = %d, %v", n, err)
	}
}

// TestRedirectURL: the presigned URL serves the blob's bytes to a client
// without credentials.
func TestRedirectURL(t *testing.T) {
	s := newStore(t)
	id := blob.NewUploadID()
	data := []byte("fetched straight from the bucket")
	appendAt(t, s, id, 0, data)
	d := digest.FromBytes(data)
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	u, err := s.RedirectURL(t.Context(), d, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET presigned URL: %s %q", resp.Status, got)
	}
	if _, err := s.RedirectURL(t.Context(), "sha256:../../x", time.Minute); err == nil {
		t.Fatal("RedirectURL of an invalid digest succeeded")
	}
}

func TestNewChecksSettings(t *testing.T) {
	srv := s3server.Shared(t)
	for _, o := range []blobs3.Options{
		{Endpoint: "127.0.0.1:9000", Bucket: "b"},
		{Endpoint: "ftp://127.0.0.1", Bucket: "b"},
		{Endpoint: srv.Endpoint()},
		{Endpoint: srv.Endpoint(), Bucket: "b", PartSize: 1 << 20},
		{Endpoint: srv.Endpoint(), Bucket: "no-such-bucket", AccessKey: s3server.AccessKey, SecretKey: s3server.SecretKey, PathStyle: true},
		{Endpoint: srv.Endpoint(), Bucket: srv.NewBucket(t), AccessKey: s3server.AccessKey, SecretKey: "wrong", PathStyle: true},
	} {
		if _, err := blobs3.New(t.Context(), o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		} else if strings.Contains(err.Error(), "wrong") {
			t.Errorf("New: error %q shows the secret key", err)
		}
	}
}

// TestSharedSuite: two stores on one bucket, as two replicas.
func TestSharedSuite(t *testing.T) {
	blobtest.RunShared(t, func(t *testing.T) (blob.Store, blob.Store) {
		srv := s3server.Shared(t)
		bucket := srv.NewBucket(t)
		return openStore(t, srv, bucket), openStore(t, srv, bucket)
	})
}
