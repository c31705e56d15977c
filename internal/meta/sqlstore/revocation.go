package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.RevocationStore = (*Store)(nil)

// Revoke implements meta.RevocationStore with one atomic upsert.
func (s *Store) Revoke(ctx context.Context, subject string) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var epoch int64
	err = s.w.QueryRowContext(ctx, s.b.bind(`INSERT INTO revocations (subject, epoch, changed_at) VALUES (?, 1, ?)
		ON CONFLICT (subject) DO UPDATE SET epoch = revocations.epoch + 1, changed_at = excluded.changed_at
		RETURNING epoch`), subject, time.Now().UnixMilli()).Scan(&epoch)
	return epoch, err
}

// ListRevocations implements meta.RevocationStore.
func (s *Store) ListRevocations(ctx context.Context, since time.Time) (_ []meta.Revocation, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT subject, epoch, changed_at FROM revocations WHERE changed_at >= ? ORDER BY changed_at`,
		since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.Revocation
	for rows.Next() {
		var r meta.Revocation
		var at int64
		if err := rows.Scan(&r.Subject, &r.Epoch, &at); err != nil {
			return nil, err
		}
		r.ChangedAt = time.UnixMilli(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneRevocations implements meta.RevocationStore.
func (s *Store) PruneRevocations(ctx context.Context, prefix string, before time.Time) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	// A range on the primary key instead of LIKE: prefix may hold % or _.
	res, err := s.exec(ctx, `DELETE FROM revocations WHERE subject >= ? AND subject < ? AND changed_at < ?`,
		prefix, prefixEnd(prefix), before.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// prefixEnd is the smallest string greater than every string starting
// with prefix (prefix is ASCII here).
func prefixEnd(prefix string) string {
	if prefix == "" {
		return strings.Repeat("\x7f", 8)
	}
	b := []byte(prefix)
	b[len(b)-1]++
	return string(b)
}
