package sqlstore

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// BlobRepositories implements meta.Store.
func (s *Store) BlobRepositories(ctx context.Context, d digest.Digest, limit int) (_ []string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT repo FROM repository_blobs WHERE digest = ? ORDER BY repo LIMIT ?`, string(d), limit)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows, limit)
}
