package metatest

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// testHasRole: a user holds a role in some project until the membership
// changes or goes.
func testHasRole(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	u := &meta.User{Username: "pa", PasswordHash: "h"}
	other := &meta.User{Username: "other", PasswordHash: "h"}
	noErr(t, s.CreateUser(ctx, u))
	noErr(t, s.CreateUser(ctx, other))
	has := func(userID int64, role int) bool {
		t.Helper()
		ok, err := s.HasRole(ctx, userID, role)
		noErr(t, err)
		return ok
	}
	if has(u.ID, 1) {
		t.Fatal("HasRole before any membership")
	}
	a, b := &meta.Project{Name: "a"}, &meta.Project{Name: "b"}
	noErr(t, s.CreateProject(ctx, a))
	noErr(t, s.CreateProject(ctx, b))
	noErr(t, s.SetMember(ctx, a.ID, u.ID, 3))
	noErr(t, s.SetMember(ctx, b.ID, u.ID, 1))
	noErr(t, s.SetMember(ctx, b.ID, other.ID, 2))
	if !has(u.ID, 1) || !has(u.ID, 3) || has(u.ID, 2) || has(other.ID, 1) || !has(other.ID, 2) {
		t.Fatal("HasRole after memberships")
	}
	noErr(t, s.SetMember(ctx, b.ID, u.ID, 4))
	if has(u.ID, 1) || !has(u.ID, 4) {
		t.Fatal("HasRole after a role change")
	}
	noErr(t, s.DeleteProject(ctx, a.ID))
	if has(u.ID, 3) {
		t.Fatal("HasRole after the project was deleted")
	}
}

// testRobotCreator: who created a robot is kept, and robots created
// without it read back "" and 0.
func testRobotCreator(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	r := &meta.Robot{Name: "robot$made", Level: "system", SecretHash: "h", CreatorType: "local", CreatorRef: 7,
		Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}}
	noErr(t, s.CreateRobot(ctx, r))
	old := &meta.Robot{Name: "robot$old", Level: "system", SecretHash: "h", Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}}
	noErr(t, s.CreateRobot(ctx, old))
	got, err := s.GetRobot(ctx, r.ID)
	noErr(t, err)
	if got.CreatorType != "local" || got.CreatorRef != 7 {
		t.Fatalf("GetRobot: creator %q %d", got.CreatorType, got.CreatorRef)
	}
	got.Description = "changed"
	noErr(t, s.UpdateRobot(ctx, got))
	list, _, err := s.ListRobots(ctx, 0, meta.ListQuery{})
	noErr(t, err)
	if len(list) != 2 || list[0].CreatorType != "local" || list[0].CreatorRef != 7 || list[1].CreatorType != "" || list[1].CreatorRef != 0 {
		t.Fatalf("ListRobots: %+v", list)
	}
	byName, err := s.GetRobotByName(ctx, "robot$made")
	noErr(t, err)
	if byName.CreatorType != "local" || byName.CreatorRef != 7 {
		t.Fatalf("GetRobotByName: creator %q %d", byName.CreatorType, byName.CreatorRef)
	}
}
