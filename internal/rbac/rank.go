package rbac

// rank orders the roles by what they may do: project admin, maintainer,
// developer, guest, limited guest (Harbor's ids are not in that order).
func (r Role) rank() int {
	switch r {
	case RoleProjectAdmin:
		return 5
	case RoleMaintainer:
		return 4
	case RoleDeveloper:
		return 3
	case RoleGuest:
		return 2
	case RoleLimitedGuest:
		return 1
	}
	return 0
}

// Highest returns the most powerful of roles (RoleNone if none is a
// role): a user's effective role in a project from a direct membership and
// those of the user's groups.
func Highest(roles ...Role) Role {
	best := RoleNone
	for _, r := range roles {
		if r.rank() > best.rank() {
			best = r
		}
	}
	return best
}
