package metatest

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// testUserGroups: groups are unique per type by DN (LDAP, ignoring case)
// or name; they become project members with a role; deleting a group or a
// project removes its memberships.
func testUserGroups(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	owner := &meta.User{Username: "owner", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, owner))
	p := &meta.Project{Name: "team", OwnerID: owner.ID}
	noErr(t, s.CreateProject(ctx, p))

	devs := &meta.UserGroup{Name: "devs", Type: meta.LDAPGroup, LDAPDN: "cn=Devs,ou=groups,dc=example,dc=org"}
	noErr(t, s.CreateUserGroup(ctx, devs))
	if devs.ID == 0 || devs.CreatedAt.IsZero() {
		t.Fatalf("created: %+v", devs)
	}
	isErr(t, s.CreateUserGroup(ctx, &meta.UserGroup{Name: "other", Type: meta.LDAPGroup, LDAPDN: "CN=devs,ou=groups,dc=example,dc=org"}), meta.ErrConflict)
	oidc := &meta.UserGroup{Name: "Ops", Type: meta.OIDCGroup}
	noErr(t, s.CreateUserGroup(ctx, oidc))
	isErr(t, s.CreateUserGroup(ctx, &meta.UserGroup{Name: "ops", Type: meta.OIDCGroup}), meta.ErrConflict)
	// The same name in another type is another group.
	http := &meta.UserGroup{Name: "ops", Type: meta.HTTPGroup}
	noErr(t, s.CreateUserGroup(ctx, http))

	g, err := s.GetUserGroup(ctx, devs.ID)
	noErr(t, err)
	if g.Name != "devs" || g.Type != meta.LDAPGroup || g.LDAPDN != devs.LDAPDN {
		t.Fatalf("get: %+v", g)
	}
	_, err = s.GetUserGroup(ctx, 99999)
	isErr(t, err, meta.ErrNotFound)

	found, err := s.FindUserGroups(ctx, meta.LDAPGroup, []string{"CN=DEVS,OU=GROUPS,DC=EXAMPLE,DC=ORG", "cn=nobody"})
	noErr(t, err)
	if len(found) != 1 || found[0].ID != devs.ID {
		t.Fatalf("find by DN: %+v", found)
	}
	if found, _ := s.FindUserGroups(ctx, meta.OIDCGroup, []string{"OPS"}); len(found) != 1 || found[0].ID != oidc.ID {
		t.Fatalf("find by name: %+v", found)
	}

	list, total, err := s.ListUserGroups(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	noErr(t, err)
	if total != 3 || len(list) != 3 || list[0].ID != devs.ID {
		t.Fatalf("list: %d %+v", total, list)
	}
	q := meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}.With(meta.Cond{Key: "group_name", Op: meta.Fuzzy, Values: []string{"OP"}})
	if list, total, _ = s.ListUserGroups(ctx, q); total != 2 || len(list) != 2 {
		t.Fatalf("fuzzy name: %d %+v", total, list)
	}
	q = meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}.With(meta.Cond{Key: "ldap_group_dn", Op: meta.Equal, Values: []string{"cn=devs,OU=groups,dc=example,dc=org"}})
	if list, total, _ = s.ListUserGroups(ctx, q); total != 1 || list[0].ID != devs.ID {
		t.Fatalf("by DN: %d %+v", total, list)
	}
	q = meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}.With(meta.Cond{Key: "nope", Op: meta.Equal, Values: []string{"x"}})
	if _, _, err := s.ListUserGroups(ctx, q); err == nil {
		t.Fatal("an unknown key was accepted")
	}

	// Renaming a name-keyed group moves its key.
	oidc.Name = "operators"
	noErr(t, s.UpdateUserGroup(ctx, oidc))
	if found, _ := s.FindUserGroups(ctx, meta.OIDCGroup, []string{"operators"}); len(found) != 1 {
		t.Fatalf("renamed: %+v", found)
	}
	isErr(t, s.UpdateUserGroup(ctx, &meta.UserGroup{ID: 99999, Name: "x"}), meta.ErrNotFound)

	noErr(t, s.SetGroupMember(ctx, p.ID, devs.ID, 3))
	noErr(t, s.SetGroupMember(ctx, p.ID, devs.ID, 2)) // a new role
	noErr(t, s.SetGroupMember(ctx, p.ID, oidc.ID, 4))
	isErr(t, s.SetGroupMember(ctx, p.ID, 99999, 2), meta.ErrNotFound)
	ms, err := s.ListGroupMembers(ctx, p.ID)
	noErr(t, err)
	if len(ms) != 2 || ms[0].GroupName != "devs" || ms[0].Role != 2 || ms[1].GroupID != oidc.ID || ms[1].GroupType != meta.OIDCGroup {
		t.Fatalf("group members: %+v", ms)
	}
	// A user sees the projects of its groups.
	other := &meta.User{Username: "other", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, other))
	vis := func(groups ...int64) int64 {
		_, total, err := s.ListProjects(ctx, meta.ProjectQuery{VisibleTo: other.ID, VisibleToGroups: groups,
			ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}})
		noErr(t, err)
		return total
	}
	if vis() != 0 || vis(http.ID) != 0 || vis(http.ID, devs.ID) != 1 {
		t.Fatalf("projects visible through groups: %d %d %d", vis(), vis(http.ID), vis(http.ID, devs.ID))
	}
	roles, err := s.GroupRoles(ctx, p.ID, []int64{devs.ID, oidc.ID, http.ID})
	noErr(t, err)
	slices.Sort(roles)
	if !slices.Equal(roles, []int{2, 4}) {
		t.Fatalf("roles: %v", roles)
	}
	if roles, err := s.GroupRoles(ctx, p.ID, nil); err != nil || len(roles) != 0 {
		t.Fatalf("no groups: %v %v", roles, err)
	}
	noErr(t, s.RemoveGroupMember(ctx, p.ID, oidc.ID))
	isErr(t, s.RemoveGroupMember(ctx, p.ID, oidc.ID), meta.ErrNotFound)

	noErr(t, s.DeleteUserGroup(ctx, devs.ID))
	isErr(t, s.DeleteUserGroup(ctx, devs.ID), meta.ErrNotFound)
	if ms, _ := s.ListGroupMembers(ctx, p.ID); len(ms) != 0 {
		t.Fatalf("a deleted group's membership stayed: %+v", ms)
	}
	noErr(t, s.SetGroupMember(ctx, p.ID, http.ID, 3))
	noErr(t, s.DeleteProject(ctx, p.ID))
	if roles, _ := s.GroupRoles(ctx, p.ID, []int64{http.ID}); len(roles) != 0 {
		t.Fatalf("a deleted project's membership stayed: %v", roles)
	}
}
