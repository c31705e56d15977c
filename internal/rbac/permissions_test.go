package rbac

import (
	"slices"
	"strings"
	"testing"
)

func pairs(ps []Permission) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Resource+":"+p.Action)
	}
	return strings.Join(s, " ")
}

// TestRolePermissions pins each role's pairs: Harbor's role matrix as far
// as berth enforces it (":read" is the project itself).
func TestRolePermissions(t *testing.T) {
	const (
		read = "repository:list repository:read artifact:list artifact:read tag:list :read" // after repository:pull
		crew = "member:read member:list robot:read robot:list log:list"
		// the label pairs: creating, changing and deleting labels, reading
		// them, labelling artifacts (and updating repositories)
		labelWrite = "label:create label:read label:update label:delete label:list"
		labelRead  = "label:read label:list"
		labelling  = "artifact-label:create artifact-label:delete"
		immutable  = "immutable-tag:create immutable-tag:update immutable-tag:delete immutable-tag:list"
		retention  = "tag-retention:read tag-retention:list tag-retention:create tag-retention:update tag-retention:delete"
		webhook    = "notification-policy:read notification-policy:list notification-policy:create notification-policy:update notification-policy:delete"
		webhookRO  = "notification-policy:read notification-policy:list"
	)
	want := map[Role]string{
		RoleProjectAdmin: "repository:pull repository:push artifact:delete repository:delete tag:create tag:delete " + read +
			" :update :delete metadata:read metadata:list metadata:create metadata:update metadata:delete quota:read " +
			"member:read member:list member:create member:update member:delete " +
			"robot:read robot:list robot:create robot:update robot:delete log:list repository:update " + labelWrite + " " + labelling +
			" " + immutable + " " + retention + " " + webhook,
		RoleMaintainer: "repository:pull repository:push artifact:delete repository:delete tag:create tag:delete " + read +
			" metadata:read metadata:list quota:read " + crew + " repository:update " + labelWrite + " " + labelling + " " + immutable +
			" " + retention + " " + webhookRO,
		RoleDeveloper: "repository:pull repository:push tag:create " + read + " quota:read " + crew +
			" repository:update " + labelRead + " " + labelling + " " + retention,
		RoleGuest:        "repository:pull " + read + " quota:read " + crew + " " + labelRead,
		RoleLimitedGuest: "repository:pull " + read + " quota:read",
		RoleNone:         "",
	}
	for role, w := range want {
		if got := pairs(RolePermissions(role)); got != w {
			t.Errorf("%s:\n got %s\nwant %s", role.Name(), got, w)
		}
	}
}

// TestPermissionTable: every pair is listed for a role exactly when the
// role may do its action, and every action berth enforces has a pair.
func TestPermissionTable(t *testing.T) {
	seen := map[Permission]bool{}
	for _, p := range projectPermissions {
		if seen[p.Permission] {
			t.Errorf("pair %v listed twice", p.Permission)
		}
		seen[p.Permission] = true
	}
	for _, a := range AllActions {
		if _, ok := PermissionOf(a); !ok {
			t.Errorf("action %s has no Harbor pair", a)
		}
	}
	for _, role := range []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest, RoleLimitedGuest} {
		got := RolePermissions(role)
		for _, p := range projectPermissions {
			name := p.Permission
			if name.Resource == "project" {
				name.Resource = SelfResource
			}
			if slices.Contains(got, name) != RoleAllows(role, p.act) {
				t.Errorf("%s: %v listed=%v, allowed=%v", role.Name(), name, slices.Contains(got, name), RoleAllows(role, p.act))
			}
		}
	}
}

func TestProjectPermissionsSubjects(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Subject
		want string
	}{
		{"anonymous private", Subject{}, ""},
		{"non-member private", Subject{Authenticated: true}, ""},
		{"anonymous public", Subject{Public: true}, "repository:pull repository:list repository:read artifact:list artifact:read tag:list :read label:read label:list"},
		{"pull robot", Subject{Authenticated: true, Robot: []Action{Pull}}, "repository:pull"},
		{"robot granted elsewhere", Subject{Authenticated: true, Robot: []Action{}}, ""},
	} {
		if got := pairs(ProjectPermissions(c.s)); got != c.want {
			t.Errorf("%s: got %q want %q", c.name, got, c.want)
		}
	}
	if n := len(ProjectPermissions(Subject{Authenticated: true, SysAdmin: true})); n != len(projectPermissions) {
		t.Errorf("sysadmin holds %d of %d pairs", n, len(projectPermissions))
	}
}

// TestRobotPermissions: what GET /permissions offers is what robot
// creation accepts, and each maps back to a robot action.
func TestRobotPermissions(t *testing.T) {
	offered := RobotPermissions()
	want := "repository:pull repository:push artifact:delete repository:delete tag:create tag:delete " +
		"repository:list repository:read artifact:list artifact:read tag:list project:read log:list repository:update " +
		"label:create label:read label:update label:delete label:list artifact-label:create artifact-label:delete " +
		"immutable-tag:create immutable-tag:update immutable-tag:delete immutable-tag:list " +
		"tag-retention:read tag-retention:list tag-retention:create tag-retention:update tag-retention:delete " +
		"notification-policy:read notification-policy:list notification-policy:create notification-policy:update notification-policy:delete"
	if got := pairs(offered); got != want {
		t.Errorf("robot permissions:\n got %s\nwant %s", got, want)
	}
	for _, p := range offered {
		act, ok := RobotGrant(p.Resource, p.Action)
		if !ok || !RobotActions[act] {
			t.Errorf("%v offered but not accepted", p)
		}
	}
	for _, p := range projectPermissions {
		_, accepted := RobotGrant(p.Resource, p.Action)
		if listed := slices.Contains(offered, p.Permission); accepted != listed {
			t.Errorf("%v: accepted=%v, offered=%v", p.Permission, accepted, listed)
		}
	}
	for _, bad := range [][2]string{{"member", "create"}, {"robot", "create"}, {"project", "delete"}, {"metadata", "update"}, {"user", "create"}, {"repository", "*"}, {"", ""}} {
		if act, ok := RobotGrant(bad[0], bad[1]); ok {
			t.Errorf("%v granted %s", bad, act)
		}
	}
	for a := range RobotActions {
		p, ok := PermissionOf(a)
		if got, ok2 := RobotGrant(p.Resource, p.Action); !ok || !ok2 || got != a {
			t.Errorf("robot action %s reported as %v, which grants %s", a, p, got)
		}
	}
}

func TestSystemPermissions(t *testing.T) {
	if got := pairs(SystemPermissions(true, false)); got != "project:create project:list" {
		t.Errorf("user: %s", got)
	}
	if got := SystemPermissions(false, true); len(got) != 0 {
		t.Errorf("robot or anonymous: %v", got)
	}
	admin := pairs(SystemPermissions(true, true))
	for _, want := range []string{"audit-log:list", "user:create", "user:delete", "robot:create", "catalog:read", "project:create"} {
		if !strings.Contains(admin, want) {
			t.Errorf("administrator lacks %s: %s", want, admin)
		}
	}
}
