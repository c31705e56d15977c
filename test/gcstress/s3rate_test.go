package gcstress_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	blobs3 "github.com/berth-registry/berth/internal/blob/s3"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/test/pgserver"
	"github.com/berth-registry/berth/test/s3server"
)

// TestS3CollectionRate measures a collection of N unlinked blobs on
// PostgreSQL and S3, unpaced, paced, and paced with 4 workers
// (BERTH_GC_S3_RATE=N; skipped otherwise): blobs deleted per second, rows
// and bytes (DeleteObjects).
func TestS3CollectionRate(t *testing.T) {
	// make test collects 100 blobs per configuration (a check that each
	// collects everything); BERTH_GC_S3_RATE=N measures with N.
	n, _ := strconv.Atoi(os.Getenv("BERTH_GC_S3_RATE"))
	if n <= 0 {
		n = 100
	}
	pgserver.Require(t)
	srv := s3server.Shared(t)
	for _, run := range []struct {
		pace    float64
		workers int
	}{{-1, 1}, {0, 1}, {0, 4}} {
		bucket := srv.NewBucket(t)
		m, err := sqlstore.OpenPostgres(t.Context(), pgserver.Database(t), sqlstore.PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		b, err := blobs3.New(t.Context(), blobs3.Options{Endpoint: srv.Endpoint(), Bucket: bucket, Region: s3server.Region,
			AccessKey: s3server.AccessKey, SecretKey: s3server.SecretKey, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		garbage(t, srv, bucket, m, n)
		c := &gc.Collector{Meta: m, Blobs: b, Pace: run.pace}
		start := time.Now()
		res, err := c.Run(t.Context(), gc.Params{Workers: run.workers}, nil)
		el := time.Since(start)
		if err != nil || res.PurgedBlobs != int64(n) || res.DeletedBytes != int64(n) {
			t.Fatalf("GC: %+v %v", res, err)
		}
		objs, err := srv.Client()
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for o := range objs.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: "blobs/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			left++
		}
		if left != 0 {
			t.Fatalf("%d objects left", left)
		}
		t.Logf("pace %v (0: the default, %d), %d workers: %d blobs collected (rows and objects) in %s: %.0f blobs/s",
			run.pace, gc.DefaultPace, run.workers, n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	}
}

// garbage stores n blobs: objects put straight into the bucket, rows
// committed and then unlinked.
func garbage(t *testing.T, srv *s3server.Server, bucket string, m *sqlstore.Store, n int) {
	t.Helper()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		body := []byte(fmt.Sprintf("garbage %d of %s", i, bucket))
		d := digest.FromBytes(body)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx := context.Background()
			key := "blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded()
			if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				errs <- err
				return
			}
			repo := fmt.Sprintf("g/r%d", i%10)
			if err := m.CommitBlob(ctx, repo, d, int64(len(body)), ""); err != nil {
				errs <- err
				return
			}
			errs <- m.UnlinkBlob(ctx, repo, d)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
