package sqlstore

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.Leaser = (*Store)(nil)

// TryLease implements meta.Leaser with one atomic upsert: the row changes
// only if the lease is free, expired, or already the holder's.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (_ bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := time.Now()
	res, err := s.exec(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.expires_at < ? OR leases.holder = excluded.holder`,
		name, holder, t.Add(ttl).UnixMilli(), t.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
