package rbac

import (
	"slices"
	"testing"
)

// coreActions are the columns of TestRoleMatrix; later actions have their
// own tables (labels_test.go), and TestEveryActionTabled checks none is
// left out.
var coreActions = []Action{Pull, Push, DeleteArtifact, CreateTag, DeleteTag, ListRepos, ReadProject, WriteProject,
	ReadMembers, WriteMembers, ReadRobots, WriteRobots, ReadLogs, ReadMetadata, WriteMetadata, ReadQuota,
	ReadImmutable, WriteImmutable}

// TestRoleMatrix pins Harbor's matrix for every role and the core actions.
func TestRoleMatrix(t *testing.T) {
	y := true
	n := false
	//                        pull push del  tag+ tag- list pRd  pWr  mRd  mWr  rRd  rWr  log  mdR  mdW  qRd  imR  imW
	want := map[Role][]bool{
		RoleProjectAdmin: {y, y, y, y, y, y, y, y, y, y, y, y, y, y, y, y, y, y},
		RoleMaintainer:   {y, y, y, y, y, y, y, n, y, n, y, n, y, y, n, y, y, y},
		RoleDeveloper:    {y, y, n, y, n, y, y, n, y, n, y, n, y, n, n, y, n, n},
		RoleGuest:        {y, n, n, n, n, y, y, n, y, n, y, n, y, n, n, y, n, n},
		RoleLimitedGuest: {y, n, n, n, n, y, y, n, n, n, n, n, n, n, n, y, n, n},
		RoleNone:         {n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n},
	}
	for role, row := range want {
		for i, a := range coreActions {
			if got := RoleAllows(role, a); got != row[i] {
				t.Errorf("%s %s: got %v want %v", role.Name(), a, got, row[i])
			}
		}
	}
}

func TestAllowed(t *testing.T) {
	cases := []struct {
		name string
		s    Subject
		a    Action
		want bool
	}{
		{"anonymous public pull", Subject{Public: true}, Pull, true},
		{"anonymous public push", Subject{Public: true}, Push, false},
		{"anonymous public logs", Subject{Public: true}, ReadLogs, false},
		{"anonymous private pull", Subject{}, Pull, false},
		{"sysadmin anything", Subject{Authenticated: true, SysAdmin: true}, WriteMembers, true},
		{"non-member private", Subject{Authenticated: true}, Pull, false},
		{"non-member public pull", Subject{Authenticated: true, Public: true}, Pull, true},
		{"guest push", Subject{Authenticated: true, Role: RoleGuest}, Push, false},
		{"developer push", Subject{Authenticated: true, Role: RoleDeveloper}, Push, true},
		{"pull robot push", Subject{Authenticated: true, Robot: []Action{Pull}}, Push, false},
		{"pull robot pull", Subject{Authenticated: true, Robot: []Action{Pull}}, Pull, true},
		{"robot with sysadmin flag is still a robot", Subject{Authenticated: true, SysAdmin: true, Robot: []Action{Pull}}, Push, false},
		{"robot without grant, public pull", Subject{Authenticated: true, Robot: []Action{}, Public: true}, Pull, true},
		{"anonymous public metadata", Subject{Public: true}, ReadMetadata, false},
		{"anonymous public quota", Subject{Public: true}, ReadQuota, false},
		{"non-member public quota", Subject{Authenticated: true, Public: true}, ReadQuota, false},
		{"sysadmin metadata write", Subject{Authenticated: true, SysAdmin: true}, WriteMetadata, true},
		{"maintainer metadata write", Subject{Authenticated: true, Role: RoleMaintainer}, WriteMetadata, false},
		{"anonymous public immutable rules", Subject{Public: true}, ReadImmutable, false},
		{"developer immutable rules", Subject{Authenticated: true, Role: RoleDeveloper}, ReadImmutable, false},
		{"sysadmin immutable write", Subject{Authenticated: true, SysAdmin: true}, WriteImmutable, true},
		{"robot with pull and push, immutable rules", Subject{Authenticated: true, Robot: []Action{Pull, Push}}, ReadImmutable, false},
	}
	for _, c := range cases {
		if got := Allowed(c.s, c.a); got != c.want {
			t.Errorf("%s: got %v want %v", c.name, got, c.want)
		}
	}
}

func TestVisible(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Subject
		want bool
	}{
		{"anonymous public", Subject{Public: true}, true},
		{"anonymous private", Subject{}, false},
		{"non-member private", Subject{Authenticated: true}, false},
		{"guest private", Subject{Authenticated: true, Role: RoleGuest}, true},
		{"sysadmin private", Subject{Authenticated: true, SysAdmin: true}, true},
		{"robot granted here", Subject{Authenticated: true, Robot: []Action{Pull}}, true},
		{"robot granted elsewhere", Subject{Authenticated: true, Robot: []Action{}}, false},
		{"robot with sysadmin flag is still a robot", Subject{Authenticated: true, SysAdmin: true, Robot: []Action{}}, false},
		{"robot granted elsewhere, public", Subject{Authenticated: true, Robot: []Action{}, Public: true}, true},
	} {
		if got := Visible(c.s); got != c.want {
			t.Errorf("%s: got %v want %v", c.name, got, c.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	good := map[string]Scope{
		"repository:dev/app:pull,push":        {"repository", "dev/app", []string{"pull", "push"}},
		"repository:localhost:5000/a/b:pull":  {"repository", "localhost:5000/a/b", []string{"pull"}},
		"registry:catalog:*":                  {"registry", "catalog", []string{"*"}},
		"repository(plugin):library/x:delete": {"repository", "library/x", []string{"delete"}},
		"repository:a:pull, push":             {"repository", "a", []string{"pull", "push"}},
	}
	for in, want := range good {
		got, err := ParseScope(in)
		if err != nil || got.Type != want.Type || got.Name != want.Name || !slices.Equal(got.Actions, want.Actions) {
			t.Errorf("ParseScope(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "repository", "repository:", ":a:pull", "repository:a:", "repository::pull", "repository:a:pull,,push", "repository:a:pu ll"} {
		if _, err := ParseScope(in); err == nil {
			t.Errorf("ParseScope(%q) accepted", in)
		}
	}
}

func TestGrant(t *testing.T) {
	dev := Subject{Authenticated: true, Role: RoleDeveloper}
	if got := Grant(dev, []string{"pull", "push", "delete"}); !slices.Equal(got, []string{"pull", "push"}) {
		t.Errorf("developer: %v", got)
	}
	if got := Grant(dev, []string{"*"}); !slices.Equal(got, []string{"pull", "push"}) {
		t.Errorf("developer *: %v", got)
	}
	admin := Subject{Authenticated: true, Role: RoleProjectAdmin}
	if got := Grant(admin, []string{"*", "pull"}); !slices.Equal(got, []string{"*", "pull"}) {
		t.Errorf("admin: %v", got)
	}
	if got := Grant(Subject{Public: true}, []string{"push", "pull", "bogus"}); !slices.Equal(got, []string{"pull"}) {
		t.Errorf("anonymous public: %v", got)
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:a/b:pull,push", "registry:catalog:*", "repository:h:1/a:pull", "::", "a(b):c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		if sc.Type == "" || sc.Name == "" || len(sc.Actions) == 0 {
			t.Fatalf("accepted incomplete scope %+v from %q", sc, s)
		}
		again, err := ParseScope(sc.String())
		if err != nil || again.Type != sc.Type || again.Name != sc.Name || !slices.Equal(again.Actions, sc.Actions) {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v %v", s, sc, sc.String(), again, err)
		}
	})
}
