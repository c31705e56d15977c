package rbac

import (
	"slices"
	"testing"
)

// retentionActions pins Harbor's rows for the "tag-retention" resource
// (src/common/rbac/project/rbac_role.go): project admins, maintainers and
// developers; no one in a public project who is not a member.
var retentionActions = []struct {
	a     Action
	roles []Role
}{
	{ReadRetention, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper}},
	{WriteRetention, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper}},
}

func TestRetentionActions(t *testing.T) {
	roles := []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest, RoleLimitedGuest, RoleNone}
	for _, c := range retentionActions {
		for _, r := range roles {
			want := slices.Contains(c.roles, r)
			if got := Allowed(Subject{Authenticated: true, Role: r}, c.a); got != want {
				t.Errorf("%s %s: got %v want %v", r.Name(), c.a, got, want)
			}
		}
		if Allowed(Subject{Public: true}, c.a) || Allowed(Subject{Authenticated: true, Public: true}, c.a) {
			t.Errorf("a non-member of a public project may %s", c.a)
		}
		if !Allowed(Subject{Authenticated: true, SysAdmin: true}, c.a) {
			t.Errorf("system administrator, %s: refused", c.a)
		}
		if Allowed(Subject{Authenticated: true, Robot: []Action{Pull, Push, DeleteArtifact}}, c.a) {
			t.Errorf("robot without the grant, %s: allowed", c.a)
		}
		if !Allowed(Subject{Authenticated: true, Robot: []Action{c.a}}, c.a) {
			t.Errorf("robot granted %s: refused", c.a)
		}
	}
}
