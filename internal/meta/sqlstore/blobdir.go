package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.BlobDirStore = (*Store)(nil)

// ClaimBlobDirID implements meta.BlobDirStore: the single row's primary
// key lets one of several concurrent claims in; all read back the winner.
func (s *Store) ClaimBlobDirID(ctx context.Context, id string) (_ string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	if _, err := s.exec(ctx, `INSERT INTO blob_dir (one, id, created_at) VALUES (1, ?, ?) ON CONFLICT (one) DO NOTHING`,
		id, now()); err != nil {
		return "", err
	}
	return s.blobDirID(ctx)
}

// BlobDirID implements meta.BlobDirStore.
func (s *Store) BlobDirID(ctx context.Context) (_ string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return s.blobDirID(ctx)
}

func (s *Store) blobDirID(ctx context.Context) (string, error) {
	var id string
	err := s.queryRow(ctx, `SELECT id FROM blob_dir WHERE one = 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// HasBlobs implements meta.BlobDirStore.
func (s *Store) HasBlobs(ctx context.Context) (_ bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM blobs LIMIT 1) x`).Scan(&n)
	return n > 0, err
}
