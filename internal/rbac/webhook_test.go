package rbac

import (
	"slices"
	"testing"
)

// webhookActions pins Harbor's rows for the "notification-policy"
// resource (src/common/rbac/project/rbac_role.go): project admins do
// everything, maintainers read and list; no one else.
var webhookActions = []struct {
	a     Action
	roles []Role
}{
	{ReadWebhook, []Role{RoleProjectAdmin, RoleMaintainer}},
	{WriteWebhook, []Role{RoleProjectAdmin}},
}

func TestWebhookActions(t *testing.T) {
	roles := []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest, RoleLimitedGuest, RoleNone}
	for _, c := range webhookActions {
		for _, r := range roles {
			if got, want := Allowed(Subject{Authenticated: true, Role: r}, c.a), slices.Contains(c.roles, r); got != want {
				t.Errorf("%s %s: got %v want %v", r.Name(), c.a, got, want)
			}
		}
		if Allowed(Subject{Authenticated: true, Public: true}, c.a) {
			t.Errorf("a non-member of a public project may %s", c.a)
		}
		if !Allowed(Subject{Authenticated: true, Robot: []Action{c.a}}, c.a) || Allowed(Subject{Authenticated: true, Robot: []Action{Pull}}, c.a) {
			t.Errorf("robot grants of %s not honoured", c.a)
		}
	}
}
