package rbac

import "testing"

func TestHighest(t *testing.T) {
	for _, tc := range []struct {
		in   []Role
		want Role
	}{
		{nil, RoleNone},
		{[]Role{RoleNone, 9}, RoleNone},
		{[]Role{RoleGuest, RoleDeveloper}, RoleDeveloper},
		{[]Role{RoleDeveloper, RoleMaintainer, RoleGuest}, RoleMaintainer},
		{[]Role{RoleMaintainer, RoleProjectAdmin}, RoleProjectAdmin},
		{[]Role{RoleLimitedGuest, RoleNone}, RoleLimitedGuest},
		{[]Role{RoleLimitedGuest, RoleGuest}, RoleGuest},
	} {
		if got := Highest(tc.in...); got != tc.want {
			t.Errorf("Highest(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
