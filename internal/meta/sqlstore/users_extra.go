package sqlstore

import (
	"context"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.MembershipStore = (*Store)(nil)

// HasRole implements meta.MembershipStore.
func (s *Store) HasRole(ctx context.Context, userID int64, role int) (_ bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM project_members WHERE user_id = ? AND role = ? LIMIT 1) m`,
		userID, role).Scan(&n)
	return n > 0, err
}
