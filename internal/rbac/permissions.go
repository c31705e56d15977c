package rbac

// Permission is one of Harbor's resource/action pairs (src/common/rbac):
// what GET /users/current/permissions reports, what GET /permissions
// offers for robots and what a robot's access list holds.
type Permission struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// SelfResource is how Harbor names the project itself in a role's
// policies ("/project/1", "." relative to it); its robot permissions name
// it "project". The table below uses "project"; ProjectPermissions
// reports it as SelfResource.
const SelfResource = ""

// projectPermission is a Harbor project-scope pair and the action that
// berth checks for it.
type projectPermission struct {
	Permission
	act Action
}

// projectPermissions is the one list of Harbor's project-scope pairs that
// berth enforces, each with the action its handlers check. Roles'
// permissions, robots' grantable access and the robot access berth
// accepts are all read from it: a new action (or a new pair for an
// existing one) is added here. The first pair of an action is the one a
// stored robot grant is reported as. Pairs for features berth does not
// have (scan, tag-retention, …) are not listed: no caller holds them.
var projectPermissions = []projectPermission{
	{Permission{"repository", "pull"}, Pull},
	{Permission{"repository", "push"}, Push},
	{Permission{"artifact", "delete"}, DeleteArtifact},
	{Permission{"repository", "delete"}, DeleteArtifact}, // a repository goes with its artifacts
	{Permission{"tag", "create"}, CreateTag},
	{Permission{"tag", "delete"}, DeleteTag},
	{Permission{"repository", "list"}, ListRepos},
	{Permission{"repository", "read"}, ListRepos},
	{Permission{"artifact", "list"}, ListRepos},
	{Permission{"artifact", "read"}, ListRepos},
	{Permission{"tag", "list"}, ListRepos},
	{Permission{"project", "read"}, ReadProject},
	{Permission{"project", "update"}, WriteProject},
	{Permission{"project", "delete"}, WriteProject},
	{Permission{"metadata", "read"}, ReadMetadata},
	{Permission{"metadata", "list"}, ReadMetadata},
	{Permission{"metadata", "create"}, WriteMetadata},
	{Permission{"metadata", "update"}, WriteMetadata},
	{Permission{"metadata", "delete"}, WriteMetadata},
	{Permission{"quota", "read"}, ReadQuota},
	{Permission{"member", "read"}, ReadMembers},
	{Permission{"member", "list"}, ReadMembers},
	{Permission{"member", "create"}, WriteMembers},
	{Permission{"member", "update"}, WriteMembers},
	{Permission{"member", "delete"}, WriteMembers},
	{Permission{"robot", "read"}, ReadRobots},
	{Permission{"robot", "list"}, ReadRobots},
	{Permission{"robot", "create"}, WriteRobots},
	{Permission{"robot", "update"}, WriteRobots},
	{Permission{"robot", "delete"}, WriteRobots},
	{Permission{"log", "list"}, ReadLogs},
	{Permission{"repository", "update"}, UpdateRepo},
	{Permission{"label", "create"}, CreateLabel},
	{Permission{"label", "read"}, ReadLabel},
	{Permission{"label", "update"}, UpdateLabel},
	{Permission{"label", "delete"}, DeleteLabel},
	{Permission{"label", "list"}, ListLabels},
	{Permission{"artifact-label", "create"}, AddArtifactLabel},
	{Permission{"artifact-label", "delete"}, RemoveArtifactLabel},
	{Permission{"immutable-tag", "create"}, WriteImmutable},
	{Permission{"immutable-tag", "update"}, WriteImmutable},
	{Permission{"immutable-tag", "delete"}, WriteImmutable},
	{Permission{"immutable-tag", "list"}, ReadImmutable},
	{Permission{"tag-retention", "read"}, ReadRetention},
	{Permission{"tag-retention", "list"}, ReadRetention},
	{Permission{"tag-retention", "create"}, WriteRetention},
	{Permission{"tag-retention", "update"}, WriteRetention},
	{Permission{"tag-retention", "delete"}, WriteRetention},
	{Permission{"notification-policy", "read"}, ReadWebhook},
	{Permission{"notification-policy", "list"}, ReadWebhook},
	{Permission{"notification-policy", "create"}, WriteWebhook},
	{Permission{"notification-policy", "update"}, WriteWebhook},
	{Permission{"notification-policy", "delete"}, WriteWebhook},
}

// ProjectPermissions lists the pairs s holds in a project, in the table's
// order, the project itself named SelfResource as in Harbor's role
// policies. A subject that may not see the project holds none.
func ProjectPermissions(s Subject) []Permission {
	out := []Permission{}
	if !Visible(s) {
		return out
	}
	for _, p := range projectPermissions {
		if Allowed(s, p.act) {
			if p.Resource == "project" {
				p.Resource = SelfResource
			}
			out = append(out, p.Permission)
		}
	}
	return out
}

// RolePermissions lists the pairs a project role holds (Harbor's
// rolePoliciesMap, restricted to what berth enforces).
func RolePermissions(r Role) []Permission {
	return ProjectPermissions(Subject{Authenticated: true, Role: r})
}

// RobotPermissions lists the pairs a robot may be granted in a project,
// named as in a robot's access list: GET /permissions offers exactly these
// and robot creation accepts exactly these.
func RobotPermissions() []Permission {
	out := []Permission{}
	for _, p := range projectPermissions {
		if RobotActions[p.act] {
			out = append(out, p.Permission)
		}
	}
	return out
}

// RobotGrant is the action a robot's access pair grants; false if a robot
// may not be granted it.
func RobotGrant(resource, action string) (Action, bool) {
	for _, p := range projectPermissions {
		if p.Resource == resource && p.Action == action && RobotActions[p.act] {
			return p.act, true
		}
	}
	return "", false
}

// PermissionOf is the pair a stored grant of a is reported as: its first
// in the table (false for an action no pair names).
func PermissionOf(a Action) (Permission, bool) {
	for _, p := range projectPermissions {
		if p.act == a {
			return p.Permission, true
		}
	}
	return Permission{}, false
}

// systemPermissions are Harbor's system-scope pairs that berth has, and
// who holds them: system administrators all; a signed-in user the ones
// marked users; robots none (berth grants robots project access only).
var systemPermissions = []struct {
	Permission
	users bool
}{
	{Permission{"project", "create"}, true},
	{Permission{"project", "list"}, true},
	{Permission{"audit-log", "list"}, false},
	{Permission{"catalog", "read"}, false},
	{Permission{"user", "create"}, false},
	{Permission{"user", "read"}, false},
	{Permission{"user", "update"}, false},
	{Permission{"user", "delete"}, false},
	{Permission{"user", "list"}, false},
	{Permission{"robot", "create"}, false},
	{Permission{"robot", "read"}, false},
	{Permission{"robot", "update"}, false},
	{Permission{"robot", "delete"}, false},
	{Permission{"robot", "list"}, false},
	{Permission{"quota", "read"}, false},
	{Permission{"quota", "list"}, false},
	{Permission{"quota", "update"}, false},
}

// SystemPermissions lists the system-scope pairs of a signed-in user
// (sysAdmin: an administrator); robots and anonymous callers hold none.
func SystemPermissions(user, sysAdmin bool) []Permission {
	out := []Permission{}
	if !user {
		return out
	}
	for _, p := range systemPermissions {
		if sysAdmin || p.users {
			out = append(out, p.Permission)
		}
	}
	return out
}
