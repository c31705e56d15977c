package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// TestPrivateProjectAnswersAsMissing: to a caller who may not see a
// private project (anonymous, or signed in without a role in it), the
// project and everything under it answer exactly as a missing project
// does: same status, same message, naming only what was asked (an id
// stays an id), by id and by name.
func TestPrivateProjectAnswersAsMissing(t *testing.T) {
	e := newEnv(t)
	dev := e.user("dev", false)
	outsider := e.user("outsider", false)
	secret := e.project("topsecret", false, map[cred]int{dev: int(rbac.RoleDeveloper)})
	e.push("topsecret/app", "v1")
	rb := &meta.Robot{Name: "robot$topsecret+ci", Level: "project", ProjectID: secret.ID, SecretHash: "h",
		Permissions: []meta.RobotPermission{{Project: "topsecret", Actions: []string{string(rbac.Pull)}}}}
	if err := e.store.CreateRobot(e.ctx, rb); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(secret.ID, 10)
	const missingID, missingName = "987654", "nosuchproject"
	paths := func(p string) []string {
		return []string{"/projects/" + p, "/projects/" + p + "/members", "/projects/" + p + "/members/1"}
	}
	byName := func(p string) []string {
		return []string{"/projects/" + p + "/repositories", "/projects/" + p + "/repositories/app",
			"/projects/" + p + "/repositories/app/artifacts", "/projects/" + p + "/repositories/app/artifacts/v1",
			"/projects/" + p + "/repositories/app/artifacts/v1/tags", "/projects/" + p + "/logs"}
	}
	type answer struct {
		status int
		body   string
	}
	get := func(c cred, path string) answer {
		resp, body := e.req(c, "GET", Prefix+path, nil)
		return answer{resp.StatusCode, body}
	}
	for _, c := range []cred{{}, outsider} {
		for i, p := range paths(id) {
			hidden, missing := get(c, p), get(c, paths(missingID)[i])
			if want := strings.ReplaceAll(missing.body, missingID, id); hidden.status != missing.status || hidden.body != want {
				t.Errorf("%q GET %s: %d %s; a missing project gets %d %s", c.user, p, hidden.status, hidden.body, missing.status, want)
			}
			if strings.Contains(hidden.body, "topsecret") {
				t.Errorf("%q GET %s reveals the name: %s", c.user, p, hidden.body)
			}
		}
		for i, p := range append(paths("topsecret"), byName("topsecret")...) {
			hidden := get(c, p)
			missing := get(c, append(paths(missingName), byName(missingName)...)[i])
			if want := strings.ReplaceAll(missing.body, missingName, "topsecret"); hidden.status != http.StatusNotFound ||
				hidden.status != missing.status || hidden.body != want {
				t.Errorf("%q GET %s: %d %s; a missing project gets %d %s", c.user, p, hidden.status, hidden.body, missing.status, want)
			}
		}
		// Robots: listing a project's by id, and reading one.
		hidden := get(c, "/robots?q=Level%3Dproject,ProjectID%3D"+id)
		missing := get(c, "/robots?q=Level%3Dproject,ProjectID%3D"+missingID)
		if want := strings.ReplaceAll(missing.body, missingID, id); hidden.status != missing.status || hidden.body != want ||
			strings.Contains(hidden.body, "topsecret") {
			t.Errorf("%q list robots of the project: %d %s; missing: %d %s", c.user, hidden.status, hidden.body, missing.status, want)
		}
		rid := strconv.FormatInt(rb.ID, 10)
		hidden, missing = get(c, "/robots/"+rid), get(c, "/robots/"+missingID)
		if want := strings.ReplaceAll(missing.body, missingID, rid); hidden.status != missing.status || hidden.body != want {
			t.Errorf("%q GET /robots/%s: %d %s; missing: %d %s", c.user, rid, hidden.status, hidden.body, missing.status, want)
		}
	}
	// Those who may see it still do; a member without the right is refused.
	e.expect(http.StatusOK, dev, "GET", Prefix+"/projects/"+id, nil)
	e.expect(http.StatusOK, dev, "GET", Prefix+"/projects/topsecret/repositories/app/artifacts", nil)
	e.expect(http.StatusForbidden, dev, "DELETE", Prefix+"/projects/"+id, nil)
	e.expect(http.StatusOK, e.admin, "GET", Prefix+"/projects/"+id, nil)
}

// TestRecreatedProjectStartsClean: a project created under the name of a
// deleted one shows none of the deleted one's audit log, and a system
// robot granted in the deleted one has no rights in the new one (and shows
// no permission there).
func TestRecreatedProjectStartsClean(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob", false)
	e.expect(http.StatusCreated, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "dev"})
	e.expect(http.StatusCreated, e.admin, "POST", Prefix+"/projects/dev/members",
		map[string]any{"role_id": 2, "member_user": map[string]string{"username": "bob"}})
	body := e.expect(http.StatusCreated, e.admin, "POST", Prefix+"/robots", map[string]any{"name": "ci", "level": "system", "duration": -1,
		"permissions": []map[string]any{{"kind": "project", "namespace": "dev", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}})
	created := decode[robotCreated](t, body)
	robotID := strconv.FormatInt(created.ID, 10)
	if got := decode[robot](t, e.expect(http.StatusOK, e.admin, "GET", Prefix+"/robots/"+robotID, nil)); len(got.Permissions) != 1 ||
		got.Permissions[0].Namespace != "dev" {
		t.Fatalf("robot before: %+v", got.Permissions)
	}
	robotIn := func(project string) []rbac.Action {
		t.Helper()
		id, err := e.authn.Login(e.ctx, created.Name, created.Secret, "127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		sub, _, err := e.authn.Subject(e.ctx, id, project)
		if err != nil {
			t.Fatal(err)
		}
		return sub.Robot
	}
	if got := robotIn("dev"); len(got) != 1 || got[0] != rbac.Pull {
		t.Fatalf("robot rights in dev before: %v", got)
	}
	e.expect(http.StatusOK, bob, "GET", Prefix+"/projects/dev/logs", nil)

	e.expect(http.StatusOK, e.admin, "DELETE", Prefix+"/projects/dev", nil)
	e.expect(http.StatusCreated, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "dev"})

	logs := decode[[]auditLog](t, e.expect(http.StatusOK, e.admin, "GET", Prefix+"/projects/dev/logs?page_size=100", nil))
	var ops []string
	for _, l := range logs {
		ops = append(ops, l.Operation+" "+l.ResourceType+" "+l.Resource)
	}
	if got := strings.Join(ops, "; "); got != "create project dev" {
		t.Errorf("the new project's log shows: %s", got)
	}
	all := e.expect(http.StatusOK, e.admin, "GET", Prefix+"/audit-logs?page_size=100", nil)
	if !strings.Contains(all, `"resource":"bob:developer"`) {
		t.Errorf("the deleted project's records left the system log: %s", all)
	}
	e.authn.Forget()
	if got := robotIn("dev"); len(got) != 0 {
		t.Errorf("robot rights in the re-created dev: %v, want none", got)
	}
	if got := decode[robot](t, e.expect(http.StatusOK, e.admin, "GET", Prefix+"/robots/"+robotID, nil)); len(got.Permissions) != 0 {
		t.Errorf("robot after: %+v, want no permission", got.Permissions)
	}
}
