package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/rbac"
)

func TestUsersAndPasswords(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.req(e.admin, "POST", Prefix+"/users", map[string]string{"username": "carol", "email": "c@example.com",
		"realname": "Carol", "password": "Secret-Pass1"})
	if resp.StatusCode != 201 {
		t.Fatalf("create user: %d", resp.StatusCode)
	}
	loc := strings.TrimPrefix(resp.Header.Get("Location"), e.srv.URL)
	carol := cred{"carol", "Secret-Pass1"}
	e.expect(409, e.admin, "POST", Prefix+"/users", map[string]string{"username": "carol", "password": "Secret-Pass1"})
	e.expect(400, e.admin, "POST", Prefix+"/users", map[string]string{"username": "weak", "password": "password"})
	e.expect(403, carol, "POST", Prefix+"/users", map[string]string{"username": "x", "password": "Secret-Pass1"})

	me := decode[user](t, e.expect(200, carol, "GET", Prefix+"/users/current", nil))
	if me.Username != "carol" || me.Email != "c@example.com" || me.SysadminFlag {
		t.Errorf("current: %+v", me)
	}
	e.expect(200, carol, "PUT", loc, map[string]string{"realname": "Carol C."})
	e.expect(403, carol, "GET", fmt.Sprintf("%s/users/%d", Prefix, e.userID("admin")), nil)
	list := decode[[]user](t, e.expect(200, e.admin, "GET", Prefix+"/users?q=username%3D~car", nil))
	if len(list) != 1 || list[0].Realname != "Carol C." {
		t.Errorf("users: %+v", list)
	}

	// A user changes their own password only with the old one.
	pw := loc + "/password"
	e.expect(403, carol, "PUT", pw, map[string]string{"new_password": "Other-Pass2"})
	e.expect(403, carol, "PUT", pw, map[string]string{"old_password": "wrong", "new_password": "Other-Pass2"})
	e.expect(400, carol, "PUT", pw, map[string]string{"old_password": carol.pass, "new_password": "short"})
	e.expect(200, carol, "PUT", pw, map[string]string{"old_password": carol.pass, "new_password": "Other-Pass2"})
	e.expect(401, carol, "GET", Prefix+"/users/current", nil) // the cached old password stops working
	carol.pass = "Other-Pass2"
	e.expect(200, carol, "GET", Prefix+"/users/current", nil)
	// An administrator sets it without the old one.
	e.expect(200, e.admin, "PUT", pw, map[string]string{"new_password": "Admin-Set3"})
	e.expect(401, carol, "GET", Prefix+"/users/current", nil)
	carol.pass = "Admin-Set3"

	// An administrator disables the account (not their own); its cached
	// credentials stop working at once, and re-enabling restores them.
	e.expect(403, carol, "PUT", loc, map[string]bool{"disabled": true})
	e.expect(403, e.admin, "PUT", fmt.Sprintf("%s/users/%d", Prefix, e.userID("admin")), map[string]bool{"disabled": true})
	e.expect(200, e.admin, "PUT", loc, map[string]bool{"disabled": true})
	if u := decode[user](t, e.expect(200, e.admin, "GET", loc, nil)); !u.Disabled {
		t.Errorf("disabled flag not shown: %+v", u)
	}
	e.expect(401, carol, "GET", Prefix+"/users/current", nil)
	e.expect(200, e.admin, "PUT", loc, map[string]bool{"disabled": false})
	e.expect(200, carol, "GET", Prefix+"/users/current", nil)

	e.expect(403, carol, "GET", Prefix+"/audit-logs", nil)
	e.expect(200, e.admin, "PUT", loc+"/sysadmin", map[string]bool{"sysadmin_flag": true})
	e.expect(200, carol, "GET", Prefix+"/audit-logs", nil) // the cached identity was refreshed
	e.expect(403, e.admin, "DELETE", fmt.Sprintf("%s/users/%d", Prefix, e.userID("admin")), nil)
	e.expect(200, e.admin, "DELETE", loc, nil)
	e.expect(401, carol, "GET", Prefix+"/users/current", nil)
	e.checkNoSecrets(nil)
}

func TestRobotSecretShownOnce(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner", false)
	p := e.project("ci", false, map[cred]int{owner: int(rbac.RoleProjectAdmin)})
	e.push("ci/app", "latest")
	body := map[string]any{"name": "builder", "level": "project", "duration": 7, "description": "CI",
		"permissions": []map[string]any{{"kind": "project", "namespace": "ci", "access": []map[string]string{
			{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "list"}}}}}
	created := decode[robotCreated](t, e.expect(201, owner, "POST", Prefix+"/robots", body))
	if created.Name != "robot$ci+builder" || len(created.Secret) < 16 || created.ExpiresAt <= 0 {
		t.Fatalf("created: %+v", created)
	}
	e.expect(409, owner, "POST", Prefix+"/robots", body)
	robotURL := fmt.Sprintf("%s/robots/%d", Prefix, created.ID)
	got := decode[robot](t, e.expect(200, owner, "GET", robotURL, nil))
	if got.Duration != 7 || got.Level != "project" || len(got.Permissions) != 1 || len(got.Permissions[0].Access) != 2 ||
		got.Permissions[0].Access[0] != (robotAccess{Resource: "repository", Action: "pull"}) {
		t.Errorf("robot: %+v", got)
	}
	list := decode[[]robot](t, e.expect(200, owner, "GET", fmt.Sprintf("%s/robots?q=Level%%3Dproject,ProjectID%%3D%d", Prefix, p.ID), nil))
	if len(list) != 1 {
		t.Errorf("robots: %+v", list)
	}
	e.expect(403, owner, "GET", Prefix+"/robots?q=Level%3Dsystem", nil)

	bot := cred{created.Name, created.Secret}
	e.expect(200, bot, "GET", Prefix+"/projects/ci/repositories", nil)
	e.expect(403, bot, "DELETE", Prefix+"/projects/ci/repositories/app", nil)

	fresh := decode[struct{ Secret string }](t, e.expect(200, owner, "PATCH", robotURL, map[string]string{}))
	if fresh.Secret == "" || fresh.Secret == created.Secret {
		t.Fatalf("refresh: %+v", fresh)
	}
	e.expect(401, bot, "GET", Prefix+"/projects/ci/repositories", nil)
	bot.pass = fresh.Secret
	e.expect(200, bot, "GET", Prefix+"/projects/ci/repositories", nil)
	// A secret the caller chooses is set and, as Harbor, not sent back.
	chosen := decode[struct{ Secret string }](t, e.expect(200, owner, "PATCH", robotURL, map[string]string{"secret": "Chosen-Secret-9"}))
	if chosen.Secret != "" {
		t.Errorf("refresh with a chosen secret answered %+v", chosen)
	}
	e.expect(401, bot, "GET", Prefix+"/projects/ci/repositories", nil)
	bot.pass = "Chosen-Secret-9"
	e.expect(200, bot, "GET", Prefix+"/projects/ci/repositories", nil)

	body["disable"] = true
	e.expect(200, owner, "PUT", robotURL, body)
	e.expect(401, bot, "GET", Prefix+"/projects/ci/repositories", nil)
	e.expect(400, owner, "POST", Prefix+"/robots", map[string]any{"name": "bad", "level": "project",
		"permissions": []map[string]any{{"kind": "project", "namespace": "ci", "access": []map[string]string{{"resource": "user", "action": "create"}}}}})
	e.expect(403, owner, "POST", Prefix+"/robots", map[string]any{"name": "sys", "level": "system",
		"permissions": []map[string]any{{"kind": "project", "namespace": "*", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}})
	e.expect(201, e.admin, "POST", Prefix+"/robots", map[string]any{"name": "sys", "level": "system", "duration": -1,
		"permissions": []map[string]any{{"kind": "project", "namespace": "*", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}})
	e.expect(200, owner, "DELETE", robotURL, nil)
	e.expect(404, owner, "GET", robotURL, nil)

	logs := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?page_size=100", nil)
	for _, want := range []string{`"resource":"robot$ci+builder"`, `"resource":"robot$sys"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit lacks %s: %s", want, logs)
		}
	}
	e.checkNoSecrets(map[string]bool{created.Secret: true, fresh.Secret: true})
}

func TestSessionAndCSRF(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob", false)
	login := func(pass string) *http.Response {
		r, _ := http.NewRequest("POST", e.srv.URL+"/c/login", strings.NewReader(url.Values{"principal": {"bob"}, "password": {pass}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, _ := e.send(r)
		return resp
	}
	if resp := login("wrong"); resp.StatusCode != 401 {
		t.Fatalf("bad login: %d", resp.StatusCode)
	}
	resp := login(bob.pass)
	var sid *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sid = c
		}
	}
	token := resp.Header.Get(csrfHeader)
	if resp.StatusCode != 200 || sid == nil || !sid.HttpOnly || sid.SameSite != http.SameSiteLaxMode || token == "" {
		t.Fatalf("login: %d cookie %+v token %q", resp.StatusCode, sid, token)
	}
	withCookie := func(method, path, csrf string, body string) (*http.Response, string) {
		r, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		r.AddCookie(sid)
		if csrf != "" {
			r.Header.Set(csrfHeader, csrf)
		}
		return e.send(r)
	}
	if resp, body := withCookie("GET", Prefix+"/users/current", "", ""); resp.StatusCode != 200 ||
		!strings.Contains(body, `"username":"bob"`) || resp.Header.Get(csrfHeader) != token {
		t.Fatalf("cookie GET: %d %s", resp.StatusCode, body)
	}
	create := `{"project_name":"%s"}`
	if resp, _ := withCookie("POST", Prefix+"/projects", "", fmt.Sprintf(create, "a")); resp.StatusCode != 403 {
		t.Errorf("cookie write without CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := withCookie("POST", Prefix+"/projects", "forged", fmt.Sprintf(create, "a")); resp.StatusCode != 403 {
		t.Errorf("cookie write with a wrong CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := withCookie("POST", Prefix+"/projects", token, fmt.Sprintf(create, "a")); resp.StatusCode != 201 {
		t.Errorf("cookie write with CSRF token: %d", resp.StatusCode)
	}
	e.expect(201, bob, "POST", Prefix+"/projects", map[string]string{"project_name": "b"}) // Basic: no token needed

	// A tampered cookie is anonymous; a password change ends the session.
	forged := *sid
	forged.Value = strings.Replace(sid.Value, sid.Value[:1], "9", 1)
	r, _ := http.NewRequest("GET", e.srv.URL+Prefix+"/users/current", nil)
	r.AddCookie(&forged)
	if resp, _ := e.send(r); resp.StatusCode != 401 {
		t.Errorf("forged session: %d", resp.StatusCode)
	}
	e.expect(200, bob, "PUT", fmt.Sprintf("%s/users/%d/password", Prefix, e.userID("bob")),
		map[string]string{"old_password": bob.pass, "new_password": "Newer-Pass9"})
	if resp, _ := withCookie("GET", Prefix+"/users/current", "", ""); resp.StatusCode != 401 {
		t.Errorf("session after password change: %d", resp.StatusCode)
	}
	r, _ = http.NewRequest("GET", e.srv.URL+"/c/logout", nil)
	if resp, _ := e.send(r); resp.StatusCode != 200 || len(resp.Cookies()) != 2 || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d %v", resp.StatusCode, resp.Cookies())
	}
}

func TestSystemInfoAndHealth(t *testing.T) {
	e := newEnv(t)
	info := decode[generalInfo](t, e.expect(200, e.admin, "GET", Prefix+"/systeminfo", nil))
	if info.HarborVersion == nil || *info.HarborVersion != "v2.15.0-berth.test" || *info.AuthMode != "db_auth" || *info.RegistryURL == "" {
		t.Errorf("systeminfo: %+v", info)
	}
	h := e.expect(200, cred{}, "GET", Prefix+"/health", nil)
	if !strings.Contains(h, `"status":"healthy","components":[{"name":"database","status":"healthy"}]`) {
		t.Errorf("health: %s", h)
	}
}

// TestDeletesDisabled: --delete-enabled=false refuses deletes through the
// API too, even for an administrator.
func TestDeletesDisabled(t *testing.T) {
	e := newEnv(t)
	e.project("p", false, nil)
	d := e.push("p/app", "v1")
	e.api.opt.DeletesDisabled = true
	art := Prefix + "/projects/p/repositories/app/artifacts/" + d.String()
	e.expect(405, e.admin, "DELETE", art+"/tags/v1", nil)
	e.expect(405, e.admin, "DELETE", art, nil)
	e.expect(405, e.admin, "DELETE", Prefix+"/projects/p/repositories/app", nil)
	e.api.opt.DeletesDisabled = false
	e.expect(200, e.admin, "DELETE", art, nil)
}
