package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// apiAction is one management operation tried by every caller.
type apiAction struct {
	name string
	// do performs the action in project p and returns the status.
	do func(e *env, c cred, p string, n int) int
}

func status(e *env, c cred, method, path string, body any) int {
	resp, _ := e.req(c, method, path, body)
	return resp.StatusCode
}

var apiActions = []apiAction{
	{"list repositories", func(e *env, c cred, p string, _ int) int {
		return status(e, c, "GET", Prefix+"/projects/"+p+"/repositories", nil)
	}},
	{"read members", func(e *env, c cred, p string, _ int) int {
		return status(e, c, "GET", Prefix+"/projects/"+p+"/members", nil)
	}},
	{"add member", func(e *env, c cred, p string, n int) int {
		name := fmt.Sprintf("new%d", n)
		e.user(name, false)
		return status(e, c, "POST", Prefix+"/projects/"+p+"/members",
			map[string]any{"role_id": 3, "member_user": map[string]string{"username": name}})
	}},
	{"delete artifact", func(e *env, c cred, p string, n int) int {
		d := e.push(p+"/app", fmt.Sprintf("del%d", n))
		return status(e, c, "DELETE", Prefix+"/projects/"+p+"/repositories/app/artifacts/"+string(d), nil)
	}},
	{"create tag", func(e *env, c cred, p string, n int) int {
		return status(e, c, "POST", Prefix+"/projects/"+p+"/repositories/app/artifacts/latest/tags",
			map[string]string{"name": fmt.Sprintf("t%d", n)})
	}},
	{"delete tag", func(e *env, c cred, p string, n int) int {
		d := e.push(p+"/app", fmt.Sprintf("gone%d", n))
		return status(e, c, "DELETE", fmt.Sprintf("%s/projects/%s/repositories/app/artifacts/%s/tags/gone%d", Prefix, p, d, n), nil)
	}},
	{"read logs", func(e *env, c cred, p string, _ int) int {
		return status(e, c, "GET", Prefix+"/projects/"+p+"/logs", nil)
	}},
	{"manage robots", func(e *env, c cred, p string, n int) int {
		return status(e, c, "POST", Prefix+"/robots", map[string]any{"name": fmt.Sprintf("r%d", n), "level": "project", "duration": -1,
			"permissions": []map[string]any{{"kind": "project", "namespace": p, "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}})
	}},
	{"update project", func(e *env, c cred, p string, _ int) int {
		return status(e, c, "PUT", Prefix+"/projects/"+p, map[string]any{"metadata": map[string]string{"public": fmt.Sprint(p == "pub")}})
	}},
}

// TestRoleMatrix walks every kind of caller × API action × private and
// public project over real HTTP and checks allowed (2xx) or denied (401
// for anonymous callers, 403 otherwise; a private project answers callers
// outside it as a missing project does). The expectations are written out
// here, not derived from rbac, so the two check each other.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	members := map[string]rbac.Role{"padmin": rbac.RoleProjectAdmin, "maint": rbac.RoleMaintainer, "dev": rbac.RoleDeveloper,
		"guest": rbac.RoleGuest, "lguest": rbac.RoleLimitedGuest}
	creds := map[string]cred{"outsider": e.user("outsider", false), "sysadmin": e.user("root", true), "anonymous": {}}
	roles := map[cred]int{}
	for name, role := range members {
		creds[name] = e.user(name, false)
		roles[creds[name]] = int(role)
	}
	for _, p := range []struct {
		name   string
		public bool
	}{{"priv", false}, {"pub", true}} {
		e.project(p.name, p.public, roles)
		e.push(p.name+"/app", "latest")
	}
	secret := "Robot-secret-1234"
	hash, _ := auth.HashPassword(secret)
	if err := e.store.CreateRobot(e.ctx, &meta.Robot{Name: "robot$puller", Level: "system", SecretHash: hash,
		Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{string(rbac.Pull)}}}}); err != nil {
		t.Fatal(err)
	}
	creds["pull-robot"] = cred{"robot$puller", secret}

	all := "list repositories,read members,add member,delete artifact,create tag,delete tag,read logs,manage robots,update project"
	allowed := map[string]string{
		"padmin":   all,
		"sysadmin": all,
		"maint":    "list repositories,read members,delete artifact,create tag,delete tag,read logs",
		"dev":      "list repositories,read members,create tag,read logs",
		"guest":    "list repositories,read members,read logs",
		"lguest":   "list repositories",
	}
	publicExtra := "list repositories" // anyone may list a public project's repositories
	n := 0
	for _, project := range []string{"priv", "pub"} {
		for who, c := range creds {
			for _, a := range apiActions {
				n++
				want := strings.Contains(","+allowed[who]+",", ","+a.name+",") ||
					project == "pub" && a.name == publicExtra
				// A private project is invisible to who is not in it: it
				// answers as a missing one would.
				hidden := project == "priv" && (who == "outsider" || who == "anonymous")
				got := a.do(e, c, project, n)
				switch {
				case hidden && a.name == "manage robots" && got != http.StatusBadRequest:
					t.Errorf("%s / %s in %s: status %d, want 400 (no such project)", who, a.name, project, got)
				case hidden && a.name != "manage robots" && got != http.StatusNotFound:
					t.Errorf("%s / %s in %s: status %d, want 404", who, a.name, project, got)
				case hidden:
				case want && got/100 != 2:
					t.Errorf("%s / %s in %s: status %d, want allowed", who, a.name, project, got)
				case !want && who == "anonymous" && got != http.StatusUnauthorized:
					t.Errorf("%s / %s in %s: status %d, want 401", who, a.name, project, got)
				case !want && who != "anonymous" && got != http.StatusForbidden:
					t.Errorf("%s / %s in %s: status %d, want 403", who, a.name, project, got)
				}
			}
		}
	}
}
