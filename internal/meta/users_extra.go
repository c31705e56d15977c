package meta

import "context"

// MembershipStore answers questions about a user's memberships across
// projects (Harbor's member controller).
type MembershipStore interface {
	// HasRole reports whether the user holds role (an rbac.Role id) in any
	// project.
	HasRole(ctx context.Context, userID int64, role int) (bool, error)
}
