package s3

import (
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
)

var _ blob.BatchDeleter = (*Store)(nil)

// DeleteBatch implements blob.BatchDeleter with S3's DeleteObjects (up to
// 1,000 keys a request; minio-go splits longer lists). S3 reports a key
// that does not exist as deleted, and so does DeleteBatch. A request that
// fails as a whole fails each of its keys (they may have been deleted:
// deleting them again is harmless).
func (s *Store) DeleteBatch(ctx context.Context, ds []digest.Digest) map[digest.Digest]error {
	failed := map[digest.Digest]error{}
	byKey := make(map[string]digest.Digest, len(ds))
	ch := make(chan minio.ObjectInfo, len(ds))
	for _, d := range ds {
		key, err := s.blobKey(d)
		if err != nil {
			failed[d] = err
			continue
		}
		byKey[key] = d
		ch <- minio.ObjectInfo{Key: key}
	}
	close(ch)
	if len(byKey) == 0 {
		return failed
	}
	var whole error // an error about no key in particular
	for e := range s.c.RemoveObjects(ctx, s.bucket, ch, minio.RemoveObjectsOptions{}) {
		if e.Err == nil || isNotFound(e.Err) {
			continue
		}
		d, ok := byKey[e.ObjectName]
		if !ok {
			whole = e.Err
			continue
		}
		failed[d] = fmt.Errorf("removing %s: %w", e.ObjectName, e.Err)
	}
	if whole != nil {
		for key, d := range byKey {
			if failed[d] == nil {
				failed[d] = fmt.Errorf("removing %s: %w", key, whole)
			}
		}
	}
	return failed
}
