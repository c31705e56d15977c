// Package rbac decides who may do what in a project: Harbor's project roles
// (same ids and meaning), system administrators, anonymous visitors of
// public projects and robot accounts. Everything here is a pure function.
package rbac

// Role is a project role with Harbor's numeric ids.
type Role int

// Harbor's role ids (src/common/const.go).
const (
	RoleNone         Role = 0
	RoleProjectAdmin Role = 1
	RoleDeveloper    Role = 2
	RoleGuest        Role = 3
	RoleMaintainer   Role = 4
	RoleLimitedGuest Role = 5
)

// Valid reports whether r is one of the five project roles.
func (r Role) Valid() bool { return r >= RoleProjectAdmin && r <= RoleLimitedGuest }

// Name is Harbor's role name.
func (r Role) Name() string {
	switch r {
	case RoleProjectAdmin:
		return "projectAdmin"
	case RoleDeveloper:
		return "developer"
	case RoleGuest:
		return "guest"
	case RoleMaintainer:
		return "maintainer"
	case RoleLimitedGuest:
		return "limitedGuest"
	}
	return ""
}

// Action is something done in a project.
type Action string

// The actions berth enforces. They follow Harbor's resource/action pairs
// for the features berth has.
const (
	Pull           Action = "pull"          // repository pull
	Push           Action = "push"          // repository push (blobs, manifests, tags by push)
	DeleteArtifact Action = "delete"        // delete a manifest (artifact) or a blob link
	CreateTag      Action = "tag-create"    // create a tag on an existing artifact (API)
	DeleteTag      Action = "tag-delete"    // delete a tag
	ListRepos      Action = "repo-list"     // list and read repositories and artifacts
	ReadProject    Action = "project-read"  // read project and its settings
	WriteProject   Action = "project-write" // update or delete the project, its metadata
	ReadMembers    Action = "member-read"   // list members
	WriteMembers   Action = "member-write"  // add, change, remove members
	ReadRobots     Action = "robot-read"    // list project robots
	WriteRobots    Action = "robot-write"   // create, change, delete project robots
	ReadLogs       Action = "log-read"      // the project's audit log
	// Harbor's "label" resource (a project's labels) and "artifact-label"
	// (adding labels to artifacts and removing them), and repository
	// updates (the description).
	CreateLabel         Action = "label-create"
	ReadLabel           Action = "label-read"
	UpdateLabel         Action = "label-update"
	DeleteLabel         Action = "label-delete"
	ListLabels          Action = "label-list"
	AddArtifactLabel    Action = "artifact-label-create"
	RemoveArtifactLabel Action = "artifact-label-delete"
	UpdateRepo          Action = "repo-update"
)

// Project metadata and quota (Harbor's metadata and quota resources).
const (
	ReadMetadata  Action = "metadata-read"  // the /metadatas endpoints' reads
	WriteMetadata Action = "metadata-write" // add, change, remove project metadata
	ReadQuota     Action = "quota-read"     // the project's quota (in its summary)
)

// Tag immutability rules (Harbor's immutable-tag resource: its create,
// update, delete and list are project admins' and maintainers' only; no
// other role may even list the rules).
const (
	ReadImmutable  Action = "immutable-read"  // list the rules
	WriteImmutable Action = "immutable-write" // create, update, delete them
)

// Tag retention (Harbor's tag-retention resource). Harbor's role table
// gives project admins, maintainers and developers all of it (developers
// since Harbor 2.6, as its documented role table said), although a
// developer may not delete an artifact directly: berth follows Harbor.
// Harbor checks "update" to run and stop a policy; its "operate" pair is
// checked by nothing, and not listed here.
const (
	ReadRetention  Action = "retention-read"  // read the policy, list its executions, tasks and logs
	WriteRetention Action = "retention-write" // create, update, delete the policy; run and stop it
)

// Webhook policies (Harbor's notification-policy resource): project
// admins do everything, maintainers read and list.
const (
	ReadWebhook  Action = "webhook-read"  // read and list policies, their executions, tasks and logs
	WriteWebhook Action = "webhook-write" // create, update, delete and test policies
)

// AllActions lists every action, for tables and tests.
var AllActions = []Action{Pull, Push, DeleteArtifact, CreateTag, DeleteTag, ListRepos, ReadProject, WriteProject,
	ReadMembers, WriteMembers, ReadRobots, WriteRobots, ReadLogs, ReadMetadata, WriteMetadata, ReadQuota,
	CreateLabel, ReadLabel, UpdateLabel, DeleteLabel, ListLabels, AddArtifactLabel, RemoveArtifactLabel, UpdateRepo,
	ReadImmutable, WriteImmutable, ReadRetention, WriteRetention, ReadWebhook, WriteWebhook}

func set(as ...Action) map[Action]bool {
	m := make(map[Action]bool, len(as))
	for _, a := range as {
		m[a] = true
	}
	return m
}

// rolePolicies is Harbor's matrix (src/common/rbac/project/rbac_role.go)
// restricted to the actions above. Metadata: project admins read and
// write, maintainers read (Harbor's metadata read; its list needs a
// "metadata list" no role has, so Harbor's project admins cannot list their
// own project's metadata: here ReadMetadata covers both). Quota: every
// role reads, as in Harbor; anonymous visitors of a public project do not.
var rolePolicies = map[Role]map[Action]bool{
	RoleProjectAdmin: set(AllActions...),
	RoleMaintainer: set(Pull, Push, DeleteArtifact, CreateTag, DeleteTag, ListRepos, ReadProject,
		ReadMembers, ReadRobots, ReadLogs, ReadMetadata, ReadQuota,
		CreateLabel, ReadLabel, UpdateLabel, DeleteLabel, ListLabels, AddArtifactLabel, RemoveArtifactLabel, UpdateRepo,
		ReadImmutable, WriteImmutable, ReadRetention, WriteRetention, ReadWebhook),
	RoleDeveloper: set(Pull, Push, CreateTag, ListRepos, ReadProject, ReadMembers, ReadRobots, ReadLogs, ReadQuota,
		ReadLabel, ListLabels, AddArtifactLabel, RemoveArtifactLabel, UpdateRepo, ReadRetention, WriteRetention),
	RoleGuest:        set(Pull, ListRepos, ReadProject, ReadMembers, ReadRobots, ReadLogs, ReadQuota, ReadLabel, ListLabels),
	RoleLimitedGuest: set(Pull, ListRepos, ReadProject, ReadQuota),
}

// anonymousPublic is what anyone may do in a public project
// (publicProjectPolicies in Harbor's src/common/rbac/project/rbac_util.go).
var anonymousPublic = set(Pull, ListRepos, ReadProject, ReadLabel, ListLabels)

// RoleAllows reports whether a project role permits a.
func RoleAllows(r Role, a Action) bool { return rolePolicies[r][a] }

// Subject is everything that decides one caller's rights in one project.
type Subject struct {
	// Authenticated is false for anonymous callers.
	Authenticated bool
	// SysAdmin may do everything everywhere (not robots).
	SysAdmin bool
	// Role is the caller's membership role in the project (users only).
	Role Role
	// Robot is set for robot accounts: the actions granted in this project.
	// A robot has exactly these rights and never those of a role.
	Robot []Action
	// Public is the project's public flag.
	Public bool
}

// Allowed decides whether s may perform a in the project.
func Allowed(s Subject, a Action) bool {
	switch {
	case s.Robot != nil:
		for _, g := range s.Robot {
			if g == a {
				return true
			}
		}
		return s.Public && anonymousPublic[a]
	case s.SysAdmin:
		return true
	case RoleAllows(s.Role, a):
		return true
	}
	return s.Public && anonymousPublic[a]
}

// Visible reports whether s may know the project exists: it is public, or
// s is a system administrator, a member, or a robot granted anything in
// it. To anyone else a project answers as a missing one does.
func Visible(s Subject) bool {
	switch {
	case s.Public:
		return true
	case s.Robot != nil: // a robot is never a member nor an administrator
		return len(s.Robot) > 0
	}
	return s.SysAdmin || s.Role != 0
}

// RobotActions are the actions a robot account may be granted. Harbor's
// robot permissions are resource/action pairs; we accept these names.
var RobotActions = set(Pull, Push, DeleteArtifact, CreateTag, DeleteTag, ListRepos, ReadProject, ReadLogs,
	CreateLabel, ReadLabel, UpdateLabel, DeleteLabel, ListLabels, AddArtifactLabel, RemoveArtifactLabel, UpdateRepo,
	ReadImmutable, WriteImmutable, ReadRetention, WriteRetention, ReadWebhook, WriteWebhook)
