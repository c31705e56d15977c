package rbac

import (
	"slices"
	"testing"
)

// labelActions pins Harbor's rows for the "label" and "artifact-label"
// resources and repository update (src/common/rbac/project/rbac_role.go;
// rbac_util.go for anonymous callers of public projects): who may do each.
var labelActions = []struct {
	a      Action
	roles  []Role
	public bool // anyone, in a public project
}{
	{CreateLabel, []Role{RoleProjectAdmin, RoleMaintainer}, false},
	{UpdateLabel, []Role{RoleProjectAdmin, RoleMaintainer}, false},
	{DeleteLabel, []Role{RoleProjectAdmin, RoleMaintainer}, false},
	{ReadLabel, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest}, true},
	{ListLabels, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest}, true},
	{AddArtifactLabel, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper}, false},
	{RemoveArtifactLabel, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper}, false},
	{UpdateRepo, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper}, false},
}

func TestLabelActions(t *testing.T) {
	roles := []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest, RoleLimitedGuest, RoleNone}
	for _, c := range labelActions {
		for _, r := range roles {
			want := slices.Contains(c.roles, r)
			if got := RoleAllows(r, c.a); got != want {
				t.Errorf("%s %s: got %v want %v", r.Name(), c.a, got, want)
			}
			if got := Allowed(Subject{Authenticated: true, Role: r}, c.a); got != want {
				t.Errorf("Allowed(%s, %s) = %v, want %v", r.Name(), c.a, got, want)
			}
		}
		if got := Allowed(Subject{Public: true}, c.a); got != c.public {
			t.Errorf("anonymous, public project, %s: got %v want %v", c.a, got, c.public)
		}
		if Allowed(Subject{}, c.a) {
			t.Errorf("anonymous, private project, %s: allowed", c.a)
		}
		if !Allowed(Subject{Authenticated: true, SysAdmin: true}, c.a) {
			t.Errorf("system administrator, %s: refused", c.a)
		}
		if Allowed(Subject{Authenticated: true, Robot: []Action{Pull, Push}}, c.a) {
			t.Errorf("robot granted pull and push, %s: allowed", c.a)
		}
	}
}

// TestEveryActionTabled: every action is pinned by TestRoleMatrix or by
// TestLabelActions.
func TestEveryActionTabled(t *testing.T) {
	for _, a := range AllActions {
		tabled := slices.Contains(coreActions, a)
		for _, c := range labelActions {
			tabled = tabled || c.a == a
		}
		for _, c := range retentionActions {
			tabled = tabled || c.a == a
		}
		for _, c := range webhookActions {
			tabled = tabled || c.a == a
		}
		if !tabled {
			t.Errorf("action %s is in no role table", a)
		}
	}
}
