package s3

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/berth-registry/berth/test/s3server"
)

// TestWriteRepeatsConflicts: a PUT at a key the server holds as a
// directory is refused with 409 until the directory goes; write repeats
// it, so it succeeds when the directory is gone within its pauses, and
// gives the 409 back when it stays. Against the real versitygw.
func TestWriteRepeatsConflicts(t *testing.T) {
	srv := s3server.Shared(t)
	bucket := srv.NewBucket(t)
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	put := func(key string) error {
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader([]byte("blob")), 4, minio.PutObjectOptions{})
		return err
	}
	// "d/k/child" makes d/k a directory: a PUT of "d/k" conflicts.
	if err := put("d/k/child"); err != nil {
		t.Fatal(err)
	}
	if err := put("d/k"); minio.ToErrorResponse(err).StatusCode != http.StatusConflict {
		t.Fatalf("PUT over a directory: got %v, want 409 (the server no longer answers as this test assumes)", err)
	}
	// The directory stays: write gives up after its pauses with the 409.
	start := time.Now()
	if err := write(ctx, func() error { return put("d/k") }); minio.ToErrorResponse(err).StatusCode != http.StatusConflict {
		t.Fatalf("write over a directory that stays: got %v, want 409", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("write took %s to give up", el)
	}
	// The directory goes after the first attempt (its only object is
	// deleted and the server removes it): a repeat succeeds. The pauses
	// are long here so that a slow machine deletes in time.
	saved := conflictPauses
	conflictPauses = [...]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	defer func() { conflictPauses = saved }()
	removed := make(chan error, 1)
	attempts := 0
	if err := write(ctx, func() error {
		attempts++
		err := put("d/k")
		if attempts == 1 {
			go func() {
				removed <- c.RemoveObject(context.WithoutCancel(ctx), bucket, "d/k/child", minio.RemoveObjectOptions{})
			}()
		}
		return err
	}); err != nil {
		t.Fatalf("write after the directory went: %v (%d attempts)", err, attempts)
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if attempts < 2 {
		t.Fatalf("%d attempt: the first should have conflicted", attempts)
	}
	if _, err := c.StatObject(ctx, bucket, "d/k", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the object written on a repeat: %v", err)
	}
	t.Logf("written on attempt %d", attempts)
}
