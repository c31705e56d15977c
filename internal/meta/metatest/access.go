package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// RunAccess is the suite for meta.AccessStore implementations. open returns
// a fresh, empty store (and arranges its own cleanup).
func RunAccess(t *testing.T, open func(t *testing.T) meta.AccessStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s meta.AccessStore)
	}{
		{"Users", testUsers},
		{"ProjectsAndMembers", testProjects},
		{"Robots", testRobots},
		{"Audit", testAudit},
		{"ProjectIDsNotReused", testProjectIDsNotReused},
		{"UserAndRobotIDsNotReused", testUserAndRobotIDsNotReused},
		{"AuditByProjectID", testAuditByProjectID},
		{"RobotPermissionsByProjectID", testRobotPermissionsByProjectID},
		{"NameSearch", testNameSearch},
		{"Leases", testLeases},
		{"Revocations", testRevocations},
		{"HasRole", testHasRole},
		{"RobotCreator", testRobotCreator},
		{"OIDCUsers", testOIDCUsers},
		{"UserGroups", testUserGroups},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func testUsers(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	u := &meta.User{Username: "alice", Email: "a@example.test", PasswordHash: "$2a$hash", SysAdmin: true}
	noErr(t, s.CreateUser(ctx, u))
	if u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser did not set id/time: %+v", u)
	}
	isErr(t, s.CreateUser(ctx, &meta.User{Username: "alice", PasswordHash: "x"}), meta.ErrConflict)
	got, err := s.GetUserByName(ctx, "alice")
	noErr(t, err)
	if got.ID != u.ID || got.Email != u.Email || got.PasswordHash != u.PasswordHash || !got.SysAdmin || got.Disabled {
		t.Fatalf("GetUserByName = %+v", got)
	}
	_, err = s.GetUserByName(ctx, "nobody")
	isErr(t, err, meta.ErrNotFound)
	_, err = s.GetUser(ctx, 9999)
	isErr(t, err, meta.ErrNotFound)
	got.Disabled, got.SysAdmin, got.PasswordHash = true, false, "$2a$new"
	noErr(t, s.UpdateUser(ctx, got))
	again, err := s.GetUser(ctx, u.ID)
	noErr(t, err)
	if !again.Disabled || again.SysAdmin || again.PasswordHash != "$2a$new" {
		t.Fatalf("UpdateUser lost fields: %+v", again)
	}
	for _, n := range []string{"bob", "carol", "a_b", "a%b"} {
		noErr(t, s.CreateUser(ctx, &meta.User{Username: n, PasswordHash: "x"}))
	}
	list, total, err := s.ListUsers(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: 2}})
	noErr(t, err)
	if total != 5 || len(list) != 2 || list[0].Username != "alice" {
		t.Fatalf("ListUsers page 1: %d %+v", total, list)
	}
	list, total, err = s.ListUsers(ctx, contains("username", "_", meta.Page{}))
	noErr(t, err)
	if total != 1 || list[0].Username != "a_b" {
		t.Fatalf("LIKE wildcards must be literal: %d %+v", total, list)
	}
	noErr(t, s.DeleteUser(ctx, u.ID))
	isErr(t, s.DeleteUser(ctx, u.ID), meta.ErrNotFound)
}

func testProjects(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	owner := &meta.User{Username: "owner", PasswordHash: "x"}
	member := &meta.User{Username: "member", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, owner))
	noErr(t, s.CreateUser(ctx, member))
	pub := &meta.Project{Name: "pub", Public: true, OwnerID: owner.ID}
	priv := &meta.Project{Name: "priv", OwnerID: owner.ID}
	noErr(t, s.CreateProject(ctx, pub))
	noErr(t, s.CreateProject(ctx, priv))
	isErr(t, s.CreateProject(ctx, &meta.Project{Name: "pub"}), meta.ErrConflict)
	if role, err := s.MemberRole(ctx, priv.ID, owner.ID); err != nil || role != 1 {
		t.Fatalf("the owner must be project admin: %d %v", role, err)
	}
	if role, err := s.MemberRole(ctx, priv.ID, member.ID); err != nil || role != 0 {
		t.Fatalf("non-member role: %d %v", role, err)
	}
	noErr(t, s.SetMember(ctx, priv.ID, member.ID, 3))
	noErr(t, s.SetMember(ctx, priv.ID, member.ID, 2)) // change the role
	if role, _ := s.MemberRole(ctx, priv.ID, member.ID); role != 2 {
		t.Fatalf("role after change: %d", role)
	}
	ms, err := s.ListMembers(ctx, priv.ID)
	noErr(t, err)
	if len(ms) != 2 || ms[0].Username != "member" || ms[0].Role != 2 || ms[1].Username != "owner" {
		t.Fatalf("ListMembers = %+v", ms)
	}
	visible, total, err := s.ListProjects(ctx, meta.ProjectQuery{VisibleTo: member.ID})
	noErr(t, err)
	if total != 2 || len(visible) != 2 {
		t.Fatalf("member sees %d projects", total)
	}
	stranger := &meta.User{Username: "stranger", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, stranger))
	visible, total, err = s.ListProjects(ctx, meta.ProjectQuery{VisibleTo: stranger.ID})
	noErr(t, err)
	if total != 1 || visible[0].Name != "pub" {
		t.Fatalf("stranger sees %+v", visible)
	}
	if _, total, _ := s.ListProjects(ctx, meta.ProjectQuery{ListQuery: meta.ListQuery{Where: []meta.Cond{{Key: "public", Values: []string{"false"}}}}}); total != 1 {
		t.Fatalf("private projects: %d", total)
	}
	priv.Public = true
	noErr(t, s.UpdateProject(ctx, priv))
	if p, _ := s.GetProjectByName(ctx, "priv"); !p.Public {
		t.Fatal("UpdateProject lost public")
	}
	noErr(t, s.RemoveMember(ctx, priv.ID, member.ID))
	isErr(t, s.RemoveMember(ctx, priv.ID, member.ID), meta.ErrNotFound)
	noErr(t, s.DeleteProject(ctx, priv.ID))
	_, err = s.GetProject(ctx, priv.ID)
	isErr(t, err, meta.ErrNotFound)
	if ms, _ := s.ListMembers(ctx, priv.ID); len(ms) != 0 {
		t.Fatalf("members outlived their project: %+v", ms)
	}
}

func testRobots(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	p := &meta.Project{Name: "proj"}
	noErr(t, s.CreateProject(ctx, p))
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	r := &meta.Robot{Name: "robot$proj+ci", Level: "project", ProjectID: p.ID, SecretHash: "h", ExpiresAt: exp,
		Permissions: []meta.RobotPermission{{Project: "proj", Actions: []string{"pull", "push"}}}}
	noErr(t, s.CreateRobot(ctx, r))
	isErr(t, s.CreateRobot(ctx, &meta.Robot{Name: "robot$proj+ci", Level: "project", SecretHash: "h"}), meta.ErrConflict)
	sys := &meta.Robot{Name: "robot$sys", Level: "system", SecretHash: "h", Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}}
	noErr(t, s.CreateRobot(ctx, sys))
	got, err := s.GetRobotByName(ctx, "robot$proj+ci")
	noErr(t, err)
	if !got.ExpiresAt.Equal(exp) || len(got.Permissions) != 1 || got.Permissions[0].Actions[1] != "push" || got.ProjectID != p.ID {
		t.Fatalf("GetRobotByName = %+v", got)
	}
	got.Disabled, got.SecretHash, got.ExpiresAt = true, "h2", time.Time{}
	noErr(t, s.UpdateRobot(ctx, got))
	again, _ := s.GetRobot(ctx, got.ID)
	if !again.Disabled || again.SecretHash != "h2" || !again.ExpiresAt.IsZero() {
		t.Fatalf("UpdateRobot: %+v", again)
	}
	if list, total, _ := s.ListRobots(ctx, p.ID, meta.ListQuery{}); total != 1 || list[0].Name != "robot$proj+ci" {
		t.Fatalf("project robots: %+v", list)
	}
	if list, total, _ := s.ListRobots(ctx, 0, meta.ListQuery{}); total != 1 || list[0].Name != "robot$sys" {
		t.Fatalf("system robots: %+v", list)
	}
	// Harbor's clients name robots without the prefix (q=name=proj+ci).
	for _, c := range []meta.Cond{
		{Key: "name", Values: []string{"proj+ci"}}, {Key: "name", Values: []string{"robot$proj+ci"}},
		{Key: "name", Op: meta.Fuzzy, Values: []string{"+c"}}, {Key: "name", Op: meta.AnyOf, Values: []string{"x", "proj+ci"}},
	} {
		if list, total, err := s.ListRobots(ctx, p.ID, meta.ListQuery{Where: []meta.Cond{c}}); err != nil || total != 1 || len(list) != 1 {
			t.Fatalf("ListRobots %+v: %d %+v %v", c, total, list, err)
		}
	}
	if _, total, _ := s.ListRobots(ctx, p.ID, meta.ListQuery{Where: []meta.Cond{{Key: "name", Values: []string{"ci"}}}}); total != 0 {
		t.Fatalf("ListRobots name=ci matched robot$proj+ci")
	}
	noErr(t, s.DeleteProject(ctx, p.ID))
	_, err = s.GetRobot(ctx, got.ID)
	isErr(t, err, meta.ErrNotFound)
	isErr(t, s.DeleteRobot(ctx, got.ID), meta.ErrNotFound)
}

func testAudit(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []meta.AuditRecord
	for i := 0; i < 25; i++ {
		recs = append(recs, meta.AuditRecord{At: base.Add(time.Duration(i) * time.Minute), Username: []string{"a", "b"}[i%2],
			Operation: []string{"push", "pull", "delete"}[i%3], ResourceType: "artifact", Resource: "p/r:t", Project: "p", Success: i != 3})
	}
	noErr(t, s.AppendAudit(ctx, recs))
	list, total, err := s.ListAudit(ctx, meta.AuditQuery{ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}})
	noErr(t, err)
	if total != 25 || len(list) != 10 || !list[0].At.Equal(recs[24].At) {
		t.Fatalf("newest first: %d %+v", total, list[0])
	}
	if _, total, _ := s.ListAudit(ctx, meta.AuditQuery{ListQuery: meta.ListQuery{Where: []meta.Cond{{Key: "operation", Values: []string{"push"}}, {Key: "username", Values: []string{"a"}}}}}); total != 5 {
		t.Fatalf("push by a: %d", total)
	}
	if _, total, _ := s.ListAudit(ctx, meta.AuditQuery{ListQuery: meta.ListQuery{Where: []meta.Cond{{Key: "op_time", Op: meta.Range, Values: []string{base.Add(20 * time.Minute).UTC().Format(time.RFC3339Nano), ""}}}}}); total != 5 {
		t.Fatalf("from: %d", total)
	}
	n, err := s.PruneAudit(ctx, base.Add(10*time.Minute))
	noErr(t, err)
	if n != 10 {
		t.Fatalf("pruned %d, want 10", n)
	}
	if _, total, _ := s.ListAudit(ctx, meta.AuditQuery{}); total != 15 {
		t.Fatalf("after prune: %d", total)
	}
}

// testLeases needs the store to be a meta.Leaser too, as every SQL store is.
func testLeases(t *testing.T, s meta.AccessStore) {
	l, ok := s.(meta.Leaser)
	if !ok {
		t.Fatalf("%T does not implement meta.Leaser", s)
	}
	ctx := context.Background()
	take := func(holder string, ttl time.Duration) bool {
		t.Helper()
		got, err := l.TryLease(ctx, "job", holder, ttl)
		noErr(t, err)
		return got
	}
	if !take("a", time.Minute) {
		t.Fatal("a free lease must be granted")
	}
	if take("b", time.Minute) {
		t.Fatal("a held lease must be refused to another holder")
	}
	if !take("a", 50*time.Millisecond) {
		t.Fatal("the holder must be able to renew")
	}
	time.Sleep(120 * time.Millisecond)
	if !take("b", time.Minute) {
		t.Fatal("an expired lease must pass to another holder")
	}
	if take("a", time.Minute) {
		t.Fatal("the old holder must not take it back while b holds it")
	}
	if got, err := l.TryLease(ctx, "other-job", "a", time.Minute); err != nil || !got {
		t.Fatalf("leases are per name: %v %v", got, err)
	}
}

// testRevocations needs the store to be a meta.RevocationStore too.
func testRevocations(t *testing.T, s meta.AccessStore) {
	rs, ok := s.(meta.RevocationStore)
	if !ok {
		t.Fatalf("%T does not implement meta.RevocationStore", s)
	}
	ctx := context.Background()
	start := time.Now().Add(-time.Second)
	for want := int64(1); want <= 3; want++ {
		got, err := rs.Revoke(ctx, "user:alice")
		noErr(t, err)
		if got != want {
			t.Fatalf("Revoke #%d = %d", want, got)
		}
	}
	e, err := rs.Revoke(ctx, "session:a%_b")
	noErr(t, err)
	if e != 1 {
		t.Fatalf("epochs are per subject: %d", e)
	}
	list, err := rs.ListRevocations(ctx, start)
	noErr(t, err)
	got := map[string]int64{}
	for _, r := range list {
		got[r.Subject] = r.Epoch
		if r.ChangedAt.Before(start) {
			t.Fatalf("ChangedAt %v before %v", r.ChangedAt, start)
		}
	}
	if len(got) != 2 || got["user:alice"] != 3 || got["session:a%_b"] != 1 {
		t.Fatalf("ListRevocations = %v", list)
	}
	if list, _ := rs.ListRevocations(ctx, time.Now().Add(time.Minute)); len(list) != 0 {
		t.Fatalf("nothing changed after now+1m: %v", list)
	}
	n, err := rs.PruneRevocations(ctx, "session:", time.Now().Add(time.Minute))
	noErr(t, err)
	if n != 1 {
		t.Fatalf("PruneRevocations removed %d, want 1 (users are kept)", n)
	}
	if list, _ := rs.ListRevocations(ctx, start); len(list) != 1 || list[0].Subject != "user:alice" {
		t.Fatalf("after prune: %v", list)
	}
}

// testProjectIDsNotReused: a project created after the newest one was
// deleted gets a new id (SQLite reuses the largest rowid otherwise), since
// audit records and robot grants are keyed by project id.
func testProjectIDsNotReused(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	a, b := &meta.Project{Name: "a"}, &meta.Project{Name: "b"}
	noErr(t, s.CreateProject(ctx, a))
	noErr(t, s.CreateProject(ctx, b))
	noErr(t, s.DeleteProject(ctx, b.ID))
	again := &meta.Project{Name: "b"}
	noErr(t, s.CreateProject(ctx, again))
	if again.ID == b.ID || again.ID == a.ID {
		t.Fatalf("re-created project got id %d; deleted one had %d", again.ID, b.ID)
	}
}

// testUserAndRobotIDsNotReused: deleting the newest user or robot and
// creating another gives a new id, so a script holding the deleted one's
// id (DELETE /robots/{id}) cannot act on the newcomer.
func testUserAndRobotIDsNotReused(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	u := &meta.User{Username: "gone", PasswordHash: "h"}
	noErr(t, s.CreateUser(ctx, u))
	noErr(t, s.DeleteUser(ctx, u.ID))
	u2 := &meta.User{Username: "next", PasswordHash: "h"}
	noErr(t, s.CreateUser(ctx, u2))
	if u2.ID <= u.ID {
		t.Fatalf("new user got id %d; the deleted one had %d", u2.ID, u.ID)
	}
	r := &meta.Robot{Name: "robot$gone", Level: "system", SecretHash: "h"}
	noErr(t, s.CreateRobot(ctx, r))
	noErr(t, s.DeleteRobot(ctx, r.ID))
	r2 := &meta.Robot{Name: "robot$next", Level: "system", SecretHash: "h"}
	noErr(t, s.CreateRobot(ctx, r2))
	if r2.ID <= r.ID {
		t.Fatalf("new robot got id %d; the deleted one had %d", r2.ID, r.ID)
	}
}

// testAuditByProjectID: records are kept by project id (a record given
// only the name gets the id of the project of that name when written), so
// a project re-created under a deleted one's name does not show its log.
func testAuditByProjectID(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	old := &meta.Project{Name: "dev"}
	noErr(t, s.CreateProject(ctx, old))
	at := time.Now().Truncate(time.Millisecond)
	noErr(t, s.AppendAudit(ctx, []meta.AuditRecord{
		{At: at, Username: "u", Operation: "push", ResourceType: "artifact", Resource: "dev/app:old", Project: "dev"},
		{At: at, Username: "u", Operation: "create", ResourceType: "project", Resource: "dev", Project: "dev", ProjectID: old.ID},
		{At: at, Username: "u", Operation: "push", ResourceType: "artifact", Resource: "nowhere/app:1", Project: "nowhere"},
	}))
	list, total, err := s.ListAudit(ctx, meta.AuditQuery{ProjectID: old.ID})
	noErr(t, err)
	if total != 2 || list[0].ProjectID != old.ID || list[1].ProjectID != old.ID || list[0].Project != "dev" {
		t.Fatalf("old project's log: %d %+v", total, list)
	}
	noErr(t, s.DeleteProject(ctx, old.ID))
	recreated := &meta.Project{Name: "dev"}
	noErr(t, s.CreateProject(ctx, recreated))
	noErr(t, s.AppendAudit(ctx, []meta.AuditRecord{
		{At: at.Add(time.Second), Username: "v", Operation: "push", ResourceType: "artifact", Resource: "dev/app:new", Project: "dev"},
	}))
	list, total, err = s.ListAudit(ctx, meta.AuditQuery{ProjectID: recreated.ID})
	noErr(t, err)
	if total != 1 || list[0].Resource != "dev/app:new" {
		t.Fatalf("re-created project's log shows %d records: %+v", total, list)
	}
	if _, total, _ := s.ListAudit(ctx, meta.AuditQuery{}); total != 4 {
		t.Fatalf("all records: %d, want 4 (the deleted project's stay in the system log)", total)
	}
	if list, _, _ := s.ListAudit(ctx, meta.AuditQuery{ListQuery: meta.ListQuery{Where: []meta.Cond{{Key: "resource", Values: []string{"nowhere/app:1"}}}}}); len(list) != 1 || list[0].ProjectID != 0 || list[0].Project != "nowhere" {
		t.Fatalf("record of an unknown project: %+v", list)
	}
}

// testRobotPermissionsByProjectID: a robot's grant is kept by project id
// (a permission given by name is resolved when stored); read back, it
// names the project as it is now, and nothing once the project is gone,
// also after a project of the same name is created; "*" stays "*".
func testRobotPermissionsByProjectID(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	dev := &meta.Project{Name: "dev"}
	noErr(t, s.CreateProject(ctx, dev))
	r := &meta.Robot{Name: "robot$ci", Level: "system", SecretHash: "h", Permissions: []meta.RobotPermission{
		{Project: "dev", Actions: []string{"pull"}}, {Project: "*", Actions: []string{"pull"}}}}
	noErr(t, s.CreateRobot(ctx, r))
	if r.Permissions[0].ProjectID != dev.ID || r.Permissions[1].ProjectID != 0 {
		t.Fatalf("CreateRobot resolved %+v, want project id %d", r.Permissions, dev.ID)
	}
	got, err := s.GetRobotByName(ctx, "robot$ci")
	noErr(t, err)
	if p := got.Permissions; len(p) != 2 || p[0].ProjectID != dev.ID || p[0].Project != "dev" || p[1].Project != "*" {
		t.Fatalf("GetRobotByName: %+v", p)
	}
	isErr(t, s.CreateRobot(ctx, &meta.Robot{Name: "robot$bad", Level: "system", SecretHash: "h",
		Permissions: []meta.RobotPermission{{Project: "ghost", Actions: []string{"pull"}}}}), meta.ErrNotFound)

	noErr(t, s.DeleteProject(ctx, dev.ID))
	noErr(t, s.CreateProject(ctx, &meta.Project{Name: "dev"}))
	for _, read := range []func() (*meta.Robot, error){
		func() (*meta.Robot, error) { return s.GetRobot(ctx, r.ID) },
		func() (*meta.Robot, error) { return s.GetRobotByName(ctx, "robot$ci") },
		func() (*meta.Robot, error) {
			list, _, err := s.ListRobots(ctx, 0, meta.ListQuery{})
			if err != nil || len(list) != 1 {
				return nil, fmt.Errorf("ListRobots: %d robots, %v", len(list), err)
			}
			return &list[0], nil
		},
	} {
		got, err := read()
		noErr(t, err)
		if p := got.Permissions; len(p) != 2 || p[0].ProjectID != dev.ID || p[0].Project != "" || p[1].Project != "*" {
			t.Fatalf("after the project was deleted and re-created: %+v; want the old id and no name", p)
		}
	}
}

// testNameSearch: searching users, projects and repositories by part of
// the name ignores the case of letters on every database, and takes %, _
// and \ in the query literally (not as LIKE wildcards). Repositories are
// searched within their project only. The store must also be a meta.Store
// and a meta.Catalog, as every SQL store is.
func testNameSearch(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	for _, n := range []string{"Alice", "bob_smith", "BOBBY", "carol%x", `dan\e`, "bobXsmith"} {
		noErr(t, s.CreateUser(ctx, &meta.User{Username: n, PasswordHash: "x"}))
	}
	users := func(q string) []string {
		t.Helper()
		list, total, err := s.ListUsers(ctx, contains("username", q, meta.Page{Size: 100}))
		noErr(t, err)
		if int(total) != len(list) {
			t.Fatalf("ListUsers(%q): total %d, %d listed", q, total, len(list))
		}
		var out []string
		for _, u := range list {
			out = append(out, u.Username)
		}
		slices.Sort(out)
		return out
	}
	for q, want := range map[string][]string{
		"ALI": {"Alice"}, "alice": {"Alice"}, "Bob": {"BOBBY", "bobXsmith", "bob_smith"}, "_": {"bob_smith"},
		"B_S": {"bob_smith"}, "%": {"carol%x"}, "L%X": {"carol%x"}, `\`: {`dan\e`}, `N\E`: {`dan\e`}, "%x": {"carol%x"}, "%a": nil, "x_": nil, "": {"Alice", "BOBBY", "bobXsmith", "bob_smith", "carol%x", `dan\e`},
	} {
		if got := users(q); !slices.Equal(got, want) {
			t.Errorf("ListUsers(%q) = %q, want %q", q, got, want)
		}
	}

	for _, n := range []string{"Team-Web", "team_api", "teamxapi", "ops%1"} {
		noErr(t, s.CreateProject(ctx, &meta.Project{Name: n}))
	}
	projects := func(q string) []string {
		t.Helper()
		list, total, err := s.ListProjects(ctx, meta.ProjectQuery{ListQuery: contains("name", q, meta.Page{Size: 100})})
		noErr(t, err)
		if int(total) != len(list) {
			t.Fatalf("ListProjects(%q): total %d, %d listed", q, total, len(list))
		}
		var out []string
		for _, p := range list {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	for q, want := range map[string][]string{
		"TEAM": {"Team-Web", "team_api", "teamxapi"}, "web": {"Team-Web"}, "M_A": {"team_api"}, "_": {"team_api"}, "S%": {"ops%1"}, "%": {"ops%1"},
	} {
		if got := projects(q); !slices.Equal(got, want) {
			t.Errorf("ListProjects(%q) = %q, want %q", q, got, want)
		}
	}

	cat, ok := s.(interface {
		meta.Store
		meta.Catalog
	})
	if !ok {
		t.Fatalf("%T is not a meta.Store and meta.Catalog", s)
	}
	for _, repo := range []string{"team_api/web-app", "team_api/web_app", "team_api/api", "teamxapi/web_app", "team_api2/web_app"} {
		noErr(t, cat.CommitBlob(ctx, repo, digest.FromString("x"), 1, ""))
	}
	repos := func(project, q string) []string {
		t.Helper()
		list, total, err := cat.ProjectRepositories(ctx, project, contains("name", q, meta.Page{Size: 100}))
		noErr(t, err)
		if int(total) != len(list) {
			t.Fatalf("ProjectRepositories(%q, %q): total %d, %d listed", project, q, total, len(list))
		}
		var out []string
		for _, r := range list {
			out = append(out, r.Name)
		}
		return out
	}
	for _, c := range []struct {
		project, q string
		want       []string
	}{
		{"team_api", "", []string{"team_api/api", "team_api/web-app", "team_api/web_app"}},
		{"team_api", "WEB", []string{"team_api/web-app", "team_api/web_app"}},
		{"team_api", "B_A", []string{"team_api/web_app"}},
		{"team_api", "%", nil},
		{"teamxapi", "web", []string{"teamxapi/web_app"}},
		{"team%", "", nil},
	} {
		if got := repos(c.project, c.q); !slices.Equal(got, c.want) {
			t.Errorf("ProjectRepositories(%q, %q) = %q, want %q", c.project, c.q, got, c.want)
		}
	}
	if n, err := cat.RepositoryCount(ctx, "team_api"); err != nil || n != 3 {
		t.Errorf("RepositoryCount(team_api) = %d, %v; want 3", n, err)
	}
}

// contains is a listing query for key containing v (all rows for v "").
func contains(key, v string, p meta.Page) meta.ListQuery {
	q := meta.ListQuery{Page: p}
	if v != "" {
		q.Where = []meta.Cond{{Key: key, Op: meta.Fuzzy, Values: []string{v}}}
	}
	return q
}
