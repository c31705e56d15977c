package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	blobs3 "github.com/berth-registry/berth/internal/blob/s3"
	"github.com/berth-registry/berth/test/s3server"
)

// putBlobs stores n small blobs directly under the store's keys (faster
// than uploads) and returns their digests.
func putBlobs(t testing.TB, srv *s3server.Server, bucket string, n int) []digest.Digest {
	t.Helper()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]digest.Digest, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		body := []byte(fmt.Sprintf("blob %d of %s", i, t.Name()))
		d := digest.FromBytes(body)
		ds[i] = d
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			key := "berth/blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded()
			_, err := c.PutObject(t.Context(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ds
}

// TestDeleteBatch: blobs are deleted in batches (more than one request's
// 1,000 keys here), missing ones count as deleted.
func TestDeleteBatch(t *testing.T) {
	srv := s3server.Shared(t)
	bucket := srv.NewBucket(t)
	s := openStore(t, srv, bucket)
	var bd blob.BatchDeleter = s
	ds := putBlobs(t, srv, bucket, 1100)
	keep := ds[1050:]
	del := append(ds[:1050:1050], digest.FromString("never stored"))
	if failed := bd.DeleteBatch(t.Context(), del); len(failed) != 0 {
		t.Fatalf("DeleteBatch failed: %v", failed)
	}
	for _, d := range []digest.Digest{ds[0], ds[999], ds[1000], ds[1049]} {
		if _, err := s.Stat(t.Context(), d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Stat(%s) after DeleteBatch: %v", d, err)
		}
	}
	for _, d := range keep {
		if _, err := s.Stat(t.Context(), d); err != nil {
			t.Fatalf("Stat(%s) of a blob not deleted: %v", d, err)
		}
	}
	if failed := bd.DeleteBatch(t.Context(), del[:10]); len(failed) != 0 {
		t.Fatalf("DeleteBatch of deleted blobs: %v", failed)
	}
}

// TestDeleteBatchFails: a request that fails fails every key of it.
func TestDeleteBatchFails(t *testing.T) {
	srv := s3server.Shared(t)
	s, err := blobs3.New(t.Context(), blobs3.Options{
		Endpoint: srv.Endpoint(), Bucket: srv.NewBucket(t), Region: s3server.Region,
		AccessKey: s3server.AccessKey, SecretKey: s3server.SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ds := []digest.Digest{digest.FromString("a"), digest.FromString("b")}
	if failed := s.DeleteBatch(ctx, ds); len(failed) != 2 {
		t.Fatalf("DeleteBatch with a cancelled context failed %v, want both", failed)
	}
}

// TestDeleteRate measures deleting blobs against the test server, one at
// a time and in batches (BERTH_S3_DELETE_RATE=N objects; skipped
// otherwise).
func TestDeleteRate(t *testing.T) {
	// make test deletes 200 objects (a check that both ways delete
	// everything); BERTH_S3_DELETE_RATE=N measures with N.
	n, _ := strconv.Atoi(os.Getenv("BERTH_S3_DELETE_RATE"))
	if n <= 0 {
		n = 200
	}
	srv := s3server.Shared(t)
	bucket := srv.NewBucket(t)
	s := openStore(t, srv, bucket)
	ds := putBlobs(t, srv, bucket, n)
	one := min(n/10, 1000)
	start := time.Now()
	for _, d := range ds[:one] {
		if err := s.Delete(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	t.Logf("Delete one at a time: %d objects in %s: %.0f objects/s", one, el.Round(time.Millisecond), float64(one)/el.Seconds())
	start = time.Now()
	if failed := s.DeleteBatch(t.Context(), ds[one:]); len(failed) != 0 {
		t.Fatalf("DeleteBatch failed %d", len(failed))
	}
	el = time.Since(start)
	t.Logf("DeleteBatch: %d objects in %s: %.0f objects/s", n-one, el.Round(time.Millisecond), float64(n-one)/el.Seconds())
}
