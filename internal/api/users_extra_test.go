package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/rbac"
)

func TestSearchUsers(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob", false)
	e.user("Alicia", false)
	e.user("alice", false)
	e.user("mallory", false)

	resp, body := e.req(bob, "GET", Prefix+"/users/search?username=ali", nil)
	got := decode[[]userSearchItem](t, body)
	if resp.StatusCode != 200 || len(got) != 2 || got[0].Username != "Alicia" || got[1].Username != "alice" ||
		got[1].UserID != e.userID("alice") || resp.Header.Get("X-Total-Count") != "2" {
		t.Fatalf("search ali: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "email") || strings.Contains(body, "sysadmin") {
		t.Errorf("search shows more than id and name: %s", body)
	}
	if upper := e.expect(200, bob, "GET", Prefix+"/users/search?username=ALI", nil); upper != body {
		t.Errorf("search ignores case of ASCII letters: %s", upper)
	}
	resp, body = e.req(bob, "GET", Prefix+"/users/search?username=ali&page=2&page_size=1", nil)
	if got := decode[[]userSearchItem](t, body); len(got) != 1 || got[0].Username != "alice" ||
		!strings.Contains(resp.Header.Get("Link"), `rel="prev"`) {
		t.Errorf("page 2: %s %s", resp.Header.Get("Link"), body)
	}
	if got := e.expect(200, bob, "GET", Prefix+"/users/search?username=nobody", nil); got != "[]\n" {
		t.Errorf("no match: %s", got)
	}
	if got := decode[[]userSearchItem](t, e.expect(200, bob, "GET", Prefix+"/users/search?username=%25", nil)); len(got) != 0 {
		t.Errorf("%% matched as a wildcard: %+v", got)
	}
	e.expect(400, bob, "GET", Prefix+"/users/search", nil)
	e.expect(400, bob, "GET", Prefix+"/users/search?username=a&page_size=101", nil)
	e.expect(401, cred{}, "GET", Prefix+"/users/search?username=ali", nil)
}

// permissionSet is a response of getCurrentUserPermissions as "resource:action".
func permissionSet(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, p := range decode[[]rbac.Permission](t, body) {
		out = append(out, p.Resource+":"+p.Action)
	}
	return out
}

func TestCurrentUserPermissions(t *testing.T) {
	e := newEnv(t)
	dev, guest, outsider := e.user("dev", false), e.user("guest", false), e.user("outsider", false)
	p := e.project("team", false, map[cred]int{dev: int(rbac.RoleDeveloper), guest: int(rbac.RoleLimitedGuest)})
	pub := e.project("pub", true, nil)
	perms := func(c cred, query string) []string {
		t.Helper()
		return permissionSet(t, e.expect(200, c, "GET", Prefix+"/users/current/permissions?"+query, nil))
	}
	scope := fmt.Sprintf("scope=/project/%d", p.ID)

	rel := perms(dev, scope+"&relative=true")
	for _, want := range []string{"repository:push", "repository:pull", ".:read", "tag:create", "member:list", "log:list"} {
		if !slices.Contains(rel, want) {
			t.Errorf("developer lacks %s: %v", want, rel)
		}
	}
	for _, not := range []string{"tag:delete", "artifact:delete", "member:create", ".:delete", "robot:create"} {
		if slices.Contains(rel, not) {
			t.Errorf("developer holds %s: %v", not, rel)
		}
	}
	if len(rel) != len(rbac.RolePermissions(rbac.RoleDeveloper)) {
		t.Errorf("developer: %d pairs, the role has %d", len(rel), len(rbac.RolePermissions(rbac.RoleDeveloper)))
	}
	abs := perms(dev, scope)
	base := fmt.Sprintf("/project/%d", p.ID)
	if !slices.Contains(abs, base+"/repository:push") || !slices.Contains(abs, base+":read") || len(abs) != len(rel) {
		t.Errorf("absolute: %v", abs)
	}
	if sub := perms(dev, scope+"/repository&relative=true"); !slices.Equal(sub, []string{".:pull", ".:push", ".:list", ".:read", ".:update"}) {
		t.Errorf("relative to %s/repository: %v", base, sub)
	}
	if lg := perms(guest, scope+"&relative=1"); slices.Contains(lg, "member:list") || !slices.Contains(lg, "repository:pull") {
		t.Errorf("limited guest: %v", lg)
	}
	if admin := perms(e.admin, scope+"&relative=true"); len(admin) != len(rbac.RolePermissions(rbac.RoleProjectAdmin)) ||
		!slices.Contains(admin, "member:create") {
		t.Errorf("system admin in a project: %v", admin)
	}
	if out := perms(outsider, scope); len(out) != 0 { // a private project: nothing, not even its existence
		t.Errorf("outsider: %v", out)
	}
	if pubPerms := perms(outsider, fmt.Sprintf("scope=/project/%d&relative=true", pub.ID)); !slices.Contains(pubPerms, "repository:pull") ||
		slices.Contains(pubPerms, "repository:push") {
		t.Errorf("public project: %v", pubPerms)
	}
	for _, q := range []string{"", "scope=/project/team", "scope=/project/999999", "scope=/elsewhere", "scope=project/1"} {
		if got := e.expect(200, dev, "GET", Prefix+"/users/current/permissions?"+q, nil); got != "[]\n" {
			t.Errorf("%q: %s", q, got)
		}
	}

	sys := perms(e.admin, "scope=/system&relative=true")
	for _, want := range []string{"user:create", "audit-log:list", "project:create", "robot:create"} {
		if !slices.Contains(sys, want) {
			t.Errorf("admin system scope lacks %s: %v", want, sys)
		}
	}
	if got := perms(dev, "scope=/system"); !slices.Equal(got, []string{"/system/project:create", "/system/project:list"}) {
		t.Errorf("user system scope: %v", got)
	}

	// A robot holds what it was granted.
	bot := e.robot(e.admin, "team", "reader", [][2]string{{"repository", "pull"}})
	if got := perms(bot, scope+"&relative=true"); !slices.Equal(got, []string{"repository:pull"}) {
		t.Errorf("robot: %v", got)
	}
	if got := perms(bot, "scope=/system"); len(got) != 0 {
		t.Errorf("robot system scope: %v", got)
	}
	// A robot is no user: Harbor's 412, which harbor-cli's login expects.
	if body := e.expect(412, bot, "GET", Prefix+"/users/current", nil); !strings.Contains(body, `"code":"PRECONDITION"`) {
		t.Errorf("robot's current user: %s", body)
	}

	e.expect(400, dev, "GET", Prefix+"/users/current/permissions?"+scope+"&relative=maybe", nil)
	e.expect(401, cred{}, "GET", Prefix+"/users/current/permissions?"+scope, nil)
}

// robot creates a project robot in project with the given access pairs
// and returns its credentials.
func (e *env) robot(c cred, project, name string, access [][2]string) cred {
	e.t.Helper()
	var acc []map[string]string
	for _, a := range access {
		acc = append(acc, map[string]string{"resource": a[0], "action": a[1]})
	}
	created := decode[robotCreated](e.t, e.expect(201, c, "POST", Prefix+"/robots", map[string]any{"name": name, "level": "project",
		"duration": -1, "permissions": []map[string]any{{"kind": "project", "namespace": project, "access": acc}}}))
	return cred{created.Name, created.Secret}
}

func TestSetCliSecret(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob", false)
	own := fmt.Sprintf("%s/users/%d/cli_secret", Prefix, e.userID("bob"))
	other := fmt.Sprintf("%s/users/%d/cli_secret", Prefix, e.userID("admin"))
	secret := map[string]string{"secret": "Cli-Secret-123"}
	// Harbor checks the auth mode first: whatever the user and the
	// caller, a registry without OIDC answers 412.
	for _, c := range []struct {
		who  cred
		path string
	}{{bob, own}, {bob, other}, {e.admin, other}, {e.admin, Prefix + "/users/999999/cli_secret"}} {
		resp, body := e.req(c.who, "PUT", c.path, secret)
		errs := decode[harborErrors](t, body)
		if resp.StatusCode != 412 || len(errs.Errors) != 1 || errs.Errors[0].Code != "PRECONDITION" ||
			!strings.Contains(errs.Errors[0].Message, "db_auth") {
			t.Errorf("%s by %s: %d %s", c.path, c.who.user, resp.StatusCode, body)
		}
	}
	e.expect(400, bob, "PUT", Prefix+"/users/me/cli_secret", secret)
	e.expect(400, bob, "PUT", own, nil)
	e.expect(401, cred{}, "PUT", own, secret)
}

func TestGetPermissions(t *testing.T) {
	e := newEnv(t)
	owner, dev := e.user("owner", false), e.user("dev", false)
	p := e.project("ci", false, map[cred]int{owner: int(rbac.RoleProjectAdmin), dev: int(rbac.RoleDeveloper)})

	var got permissionsResp
	for _, c := range []cred{e.admin, owner} {
		got = decode[permissionsResp](t, e.expect(200, c, "GET", Prefix+"/permissions", nil))
		if got.System == nil || len(got.System) != 0 || !slices.Equal(got.Project, rbac.RobotPermissions()) {
			t.Fatalf("permissions for %s: %+v", c.user, got)
		}
	}
	e.expect(403, dev, "GET", Prefix+"/permissions", nil)
	e.expect(401, cred{}, "GET", Prefix+"/permissions", nil)

	// Everything offered is accepted: harbor-cli's `project robot create
	// --all-permission` sends the whole project list.
	var all [][2]string
	for _, p := range got.Project {
		all = append(all, [2]string{p.Resource, p.Action})
	}
	bot := e.robot(owner, "ci", "all", all)
	e.expect(403, bot, "GET", Prefix+"/permissions", nil)
	list := decode[[]robot](t, e.expect(200, owner, "GET", Prefix+"/robots?q="+url.QueryEscape(fmt.Sprintf("Level=project,ProjectID=%d", p.ID)), nil))
	if len(list) != 1 || list[0].CreatorType != "local" || list[0].CreatorRef != e.userID("owner") {
		t.Fatalf("robot creator: %+v", list)
	}
	granted := map[string]bool{}
	for _, a := range list[0].Permissions[0].Access {
		act, ok := rbac.RobotGrant(a.Resource, a.Action)
		if !ok {
			t.Errorf("reported access %+v is not grantable", a)
		}
		granted[string(act)] = true
	}
	if len(granted) != len(rbac.RobotActions) {
		t.Errorf("robot granted %v, want every robot action", granted)
	}
	raw := e.expect(200, owner, "GET", fmt.Sprintf("%s/robots/%d", Prefix, list[0].ID), nil)
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m["creator_type"] != "local" || m["secret"] != nil {
		t.Errorf("robot JSON: %s", raw)
	}
}

// TestRobotAccessSchema: the OpenAPI document's Access enums are what
// robots may be granted.
func TestRobotAccessSchema(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	access := doc.Components.Schemas["Access"].Properties
	var resources, actions []string
	for _, p := range rbac.RobotPermissions() {
		if !slices.Contains(resources, p.Resource) {
			resources = append(resources, p.Resource)
		}
		if !slices.Contains(actions, p.Action) {
			actions = append(actions, p.Action)
		}
	}
	for _, c := range []struct {
		name      string
		doc, want []string
	}{{"resource", access["resource"].Enum, resources}, {"action", access["action"].Enum, actions}} {
		slices.Sort(c.doc)
		slices.Sort(c.want)
		if !slices.Equal(c.doc, c.want) {
			t.Errorf("Access.%s enum %v, robots may be granted %v", c.name, c.doc, c.want)
		}
	}
}

func TestUserRespShape(t *testing.T) {
	e := newEnv(t)
	body := e.expect(200, e.admin, "GET", Prefix+"/users/current", nil)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"user_id", "username", "email", "realname", "comment", "sysadmin_flag", "admin_role_in_auth",
		"oidc_user_meta", "creation_time", "update_time"} {
		if _, ok := m[k]; !ok {
			t.Errorf("UserResp lacks %s: %s", k, body)
		}
	}
	if m["oidc_user_meta"] != nil || m["sysadmin_flag"] != true {
		t.Errorf("UserResp: %s", body)
	}
}
