package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// fakeGroups is a GroupSource whose answers the test sets.
type fakeGroups struct {
	mu     sync.Mutex
	groups map[string][]int64
	admins map[string]bool
}

func (f *fakeGroups) set(user string, groups ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[user] = groups
}

func (f *fakeGroups) UserGroups(_ context.Context, id *auth.Identity) ([]int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[id.Name], f.admins[id.Name], nil
}

func TestUserGroups(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	list := func(query string) []userGroup {
		t.Helper()
		return decode[[]userGroup](t, e.expect(200, e.admin, "GET", Prefix+"/usergroups"+query, nil))
	}
	e.expect(201, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_name": "devs", "group_type": 1,
		"ldap_group_dn": "cn=devs,ou=groups,dc=example,dc=org"})
	resp, _ := e.req(e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_name": "ops", "group_type": 3})
	if resp.StatusCode != 201 || !strings.HasPrefix(resp.Header.Get("Location"), Prefix+"/usergroups/") {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.expect(409, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_name": "other", "group_type": 1,
		"ldap_group_dn": "CN=Devs,ou=groups,dc=example,dc=org"})
	e.expect(409, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_name": "OPS", "group_type": 3})
	e.expect(400, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_name": "x", "group_type": 1})
	e.expect(400, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_name": "x", "group_type": 7})
	e.expect(400, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_type": 3})
	e.expect(400, e.admin, "POST", Prefix+"/usergroups", "nope")
	e.expect(403, alice, "POST", Prefix+"/usergroups", map[string]any{"group_name": "mine", "group_type": 3})
	e.expect(401, cred{}, "GET", Prefix+"/usergroups", nil)
	e.expect(403, alice, "GET", Prefix+"/usergroups", nil)

	all := list("")
	if len(all) != 2 || all[0].GroupName != "devs" || all[0].GroupType != 1 || all[1].GroupName != "ops" || all[1].ID == 0 {
		t.Fatalf("list: %+v", all)
	}
	if got := list("?group_name=EV"); len(got) != 1 || got[0].GroupName != "devs" {
		t.Fatalf("by name: %+v", got)
	}
	if got := list("?ldap_group_dn=cn%3Ddevs,ou%3Dgroups,dc%3Dexample,dc%3Dorg"); len(got) != 1 || got[0].GroupName != "devs" {
		t.Fatalf("by DN: %+v", got)
	}
	if got := list("?page_size=1&page=2"); len(got) != 1 || got[0].GroupName != "ops" {
		t.Fatalf("page 2: %+v", got)
	}
	devs, ops := all[0], all[1]
	g := decode[userGroup](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/usergroups/%d", Prefix, devs.ID), nil))
	if g != devs {
		t.Fatalf("get: %+v", g)
	}
	e.expect(404, e.admin, "GET", Prefix+"/usergroups/9999", nil)
	e.expect(400, e.admin, "GET", Prefix+"/usergroups/x", nil)
	e.expect(403, alice, "GET", fmt.Sprintf("%s/usergroups/%d", Prefix, devs.ID), nil)

	// Anyone signed in searches (project admins add groups as members).
	found := decode[[]userGroupSearchItem](t, e.expect(200, alice, "GET", Prefix+"/usergroups/search?groupname=op", nil))
	if len(found) != 1 || found[0].ID != ops.ID || found[0].GroupType != 3 {
		t.Fatalf("search: %+v", found)
	}
	e.expect(400, alice, "GET", Prefix+"/usergroups/search", nil)
	e.expect(401, cred{}, "GET", Prefix+"/usergroups/search?groupname=op", nil)

	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/usergroups/%d", Prefix, ops.ID), map[string]any{"group_name": "operators"})
	e.expect(400, e.admin, "PUT", fmt.Sprintf("%s/usergroups/%d", Prefix, ops.ID), map[string]any{"group_name": ""})
	e.expect(404, e.admin, "PUT", Prefix+"/usergroups/9999", map[string]any{"group_name": "x"})
	e.expect(403, alice, "PUT", fmt.Sprintf("%s/usergroups/%d", Prefix, ops.ID), map[string]any{"group_name": "x"})
	if got := list("?group_name=operators"); len(got) != 1 {
		t.Fatalf("renamed: %+v", got)
	}
	e.expect(403, alice, "DELETE", fmt.Sprintf("%s/usergroups/%d", Prefix, ops.ID), nil)
	e.expect(200, e.admin, "DELETE", fmt.Sprintf("%s/usergroups/%d", Prefix, ops.ID), nil)
	e.expect(404, e.admin, "DELETE", fmt.Sprintf("%s/usergroups/%d", Prefix, ops.ID), nil)
	logs := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?q=resource_type%3Duser_group", nil)
	for _, op := range []string{`"operation":"create"`, `"operation":"update"`, `"operation":"delete"`} {
		if !strings.Contains(logs, op) {
			t.Errorf("audit lacks %s: %s", op, logs)
		}
	}
}

// TestGroupMembers: a group is a project member; a user's effective role
// is the highest of the direct one and the groups'; changes of the user's
// groups apply on the next request.
func TestGroupMembers(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	groups := &fakeGroups{groups: map[string][]int64{}, admins: map[string]bool{}}
	e.authn.Groups = groups
	p := e.project("team", false, map[cred]int{bob: 1})
	e.push("team/app", "v1")
	devs := &meta.UserGroup{Name: "devs", Type: meta.LDAPGroup, LDAPDN: "cn=devs,dc=example,dc=org"}
	if err := e.store.CreateUserGroup(e.ctx, devs); err != nil {
		t.Fatal(err)
	}
	members := Prefix + "/projects/team/members"

	// Without a group, alice sees nothing.
	e.expect(404, alice, "GET", Prefix+"/projects/team", nil)
	groups.set("alice", devs.ID)
	e.expect(404, alice, "GET", Prefix+"/projects/team", nil) // the group is not a member yet

	resp, _ := e.req(bob, "POST", members, map[string]any{"role_id": 3, "member_group": map[string]any{"id": devs.ID}})
	if resp.StatusCode != 201 {
		t.Fatalf("add group: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	e.expect(409, bob, "POST", members, map[string]any{"role_id": 2, "member_group": map[string]any{"id": devs.ID}})
	e.expect(404, bob, "POST", members, map[string]any{"role_id": 2, "member_group": map[string]any{"id": 9999}})
	e.expect(400, bob, "POST", members, map[string]any{"role_id": 2})
	e.expect(400, bob, "POST", members, map[string]any{"role_id": 2, "member_group": map[string]any{}, "member_user": map[string]any{}})
	e.expect(400, bob, "POST", members, map[string]any{"role_id": 2, "member_group": map[string]any{"id": devs.ID},
		"member_user": map[string]any{"username": "alice"}})
	e.expect(400, bob, "POST", members, map[string]any{"role_id": 9, "member_group": map[string]any{"id": devs.ID}})
	e.expect(400, bob, "POST", members, map[string]any{"role_id": 2, "member_group": map[string]any{"group_type": 1, "group_name": "x"}})
	// A group not known yet is created from its DN (or name).
	e.expect(201, bob, "POST", members, map[string]any{"role_id": 2, "member_group": map[string]any{"group_type": 1,
		"ldap_group_dn": "cn=qa,dc=example,dc=org"}})
	if got, _ := e.store.FindUserGroups(e.ctx, meta.LDAPGroup, []string{"cn=qa,dc=example,dc=org"}); len(got) != 1 || got[0].Name != "qa" {
		t.Fatalf("onboarded group: %+v", got)
	}

	all := decode[[]member](t, e.expect(200, bob, "GET", members, nil))
	if len(all) != 4 || all[1].EntityType != "u" || all[2].EntityType != "g" || all[2].EntityName != "devs" ||
		all[2].EntityID != devs.ID || all[2].RoleID != 3 || all[2].RoleName != "guest" || all[3].EntityName != "qa" {
		t.Fatalf("members: %+v", all)
	}
	if got := decode[[]member](t, e.expect(200, bob, "GET", members+"?entityname=DEV", nil)); len(got) != 1 || got[0].EntityType != "g" {
		t.Fatalf("by name: %+v", got)
	}
	m := decode[member](t, e.expect(200, bob, "GET", strings.TrimPrefix(loc, ""), nil))
	if m.EntityName != "devs" || m.ProjectID != p.ID || fmt.Sprintf("%s/projects/%d/members/%d", Prefix, p.ID, m.ID) != loc {
		t.Fatalf("get member: %+v (%s)", m, loc)
	}

	// alice, a guest through devs, reads but cannot push or manage members.
	pr := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/team", nil))
	if pr.CurrentUserRoleID != 3 {
		t.Fatalf("current role: %+v", pr)
	}
	e.expect(200, alice, "GET", Prefix+"/projects/team/repositories", nil)
	if ps := decode[[]project](t, e.expect(200, alice, "GET", Prefix+"/projects", nil)); len(ps) != 1 || ps[0].Name != "team" {
		t.Fatalf("alice's projects: %+v", ps)
	}
	if found := e.expect(200, alice, "GET", Prefix+"/search?q=app", nil); !strings.Contains(found, `"repository_name":"team/app"`) {
		t.Fatalf("alice's search: %s", found)
	}
	e.expect(403, alice, "POST", members, map[string]any{"role_id": 2, "member_user": map[string]any{"username": "alice"}})

	// A direct role higher than the group's wins; the group's wins over a lower direct one.
	e.expect(201, bob, "POST", members, map[string]any{"role_id": 5, "member_user": map[string]any{"username": "alice"}})
	if pr := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/team", nil)); pr.CurrentUserRoleID != 3 {
		t.Fatalf("guest group over limited guest: %+v", pr.CurrentUserRoleID)
	}
	e.expect(200, bob, "PUT", loc, map[string]any{"role_id": 4})
	if pr := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/team", nil)); pr.CurrentUserRoleID != 4 {
		t.Fatalf("maintainer group: %+v", pr.CurrentUserRoleID)
	}
	e.expect(200, alice, "GET", members, nil) // maintainers read members
	e.expect(400, bob, "PUT", loc, map[string]any{"role_id": 0})

	// Leaving the group takes the group's role away at once.
	groups.set("alice")
	if pr := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/team", nil)); pr.CurrentUserRoleID != 5 {
		t.Fatalf("after leaving the group: %+v", pr.CurrentUserRoleID)
	}
	groups.set("alice", devs.ID)
	e.expect(403, alice, "DELETE", loc, nil)
	e.expect(200, bob, "DELETE", loc, nil)
	e.expect(404, bob, "DELETE", loc, nil)
	if pr := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/team", nil)); pr.CurrentUserRoleID != 5 {
		t.Fatalf("after the group's removal: %+v", pr.CurrentUserRoleID)
	}
	// An admin group makes a system administrator.
	groups.admins["alice"] = true
	e.expect(200, alice, "GET", Prefix+"/usergroups", nil)
	logs := e.expect(200, e.admin, "GET", Prefix+"/projects/team/logs", nil)
	if !strings.Contains(logs, `group devs:guest`) {
		t.Errorf("audit of group members: %s", logs)
	}
}

func TestAuthModeSwitch(t *testing.T) {
	e := newSystemEnv(t)
	info := func() generalInfo {
		return decode[generalInfo](t, e.expect(200, cred{}, "GET", Prefix+"/systeminfo", nil))
	}
	if m := info().AuthMode; m == nil || *m != "db_auth" {
		t.Fatalf("auth_mode: %v", m)
	}
	// Only admin exists: the mode may change (and back).
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "ldap_auth"})
	if m := info().AuthMode; *m != "ldap_auth" {
		t.Fatalf("auth_mode: %v", *m)
	}
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "db_auth"})
	e.user("alice", false)
	body := e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "ldap_auth"})
	if !strings.Contains(body, "force_auth_mode") {
		t.Errorf("400: %s", body)
	}
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "db_auth"}) // no change
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "http_auth"})
	e.expect(200, e.admin, "PUT", Prefix+"/configurations?force_auth_mode=true", map[string]any{"auth_mode": "ldap_auth"})
	if m := info().AuthMode; *m != "ldap_auth" {
		t.Fatalf("forced auth_mode: %v", *m)
	}
	// Directory users are not created nor given passwords here; admin keeps its own.
	e.expect(403, e.admin, "POST", Prefix+"/users", map[string]any{"username": "zed", "password": "Pw-zed-12345", "email": "z@x.org", "realname": "z"})
	e.expect(403, e.admin, "PUT", fmt.Sprintf("%s/users/%d/password", Prefix, e.userID("alice")), map[string]any{"new_password": "Pw-new-12345"})
	e.expect(200, e.admin, "PUT", fmt.Sprintf("%s/users/%d/password", Prefix, e.userID("admin")),
		map[string]any{"old_password": e.admin.pass, "new_password": "Pw-new-admin-12345"})
	e.admin.pass = "Pw-new-admin-12345"

	// The search password is write-only and encrypted at rest.
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"ldap_search_password": "pw"}) // no key
	sealer, err := settings.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	e.api.opt.System.Settings.SetSealer(sealer)
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"ldap_search_password": "Very-Secret-1",
		"ldap_url": "ldaps://dir.example.org", "ldap_base_dn": "dc=example,dc=org", "ldap_group_cache_ttl": 5})
	cfg := decode[map[string]configItem](t, e.expect(200, e.admin, "GET", Prefix+"/configurations", nil))
	if _, ok := cfg["ldap_search_password"]; ok || cfg["ldap_url"].Value != "ldaps://dir.example.org" || cfg["ldap_uid"].Value != "cn" ||
		cfg["ldap_group_cache_ttl"].Value != float64(5) || cfg["auth_mode"].Value != "ldap_auth" {
		t.Fatalf("configurations: %+v", cfg)
	}
	stored, err := e.store.Settings(e.ctx)
	if err != nil || strings.Contains(stored["ldap_search_password"], "Very-Secret-1") || stored["ldap_search_password"] == "" {
		t.Fatalf("stored: %v %v", stored["ldap_search_password"], err)
	}
	e.checkNoSecrets(map[string]bool{"Very-Secret-1": true})
	logs := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?q=resource_type%3Dconfiguration", nil)
	if strings.Count(logs, `"resource":"auth_mode"`) != 4 {
		t.Errorf("audit: %s", logs)
	}
}
