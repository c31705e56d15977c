package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// permEnv: a private project "secret" (developer dev, guest guest), a
// public project "open", and an outsider who is a member of neither.
func permEnv(t *testing.T) (*env, string) {
	e := newEnv(t)
	for _, u := range []string{"dev", "guest", "outsider"} {
		e.user(u, false)
	}
	e.project("secret", false, map[string]int{"dev": 2, "guest": 3})
	e.project("open", true, nil)
	d := e.push("secret/app", map[string]string{"org.opencontainers.image.title": "app"}, "v1")
	e.push("open/web", nil, "latest")
	return e, string(d)
}

func TestPagePermissions(t *testing.T) {
	e, d := permEnv(t)
	art := "/projects/secret/repositories/app/artifacts/" + d
	// Status per caller: anonymous, outsider, guest, developer, admin.
	// 401 is the sign-in form; a private project is missing (404) to
	// those who may not see it, as in the API.
	cases := []struct {
		path string
		want [5]int
	}{
		{"/projects", [5]int{200, 200, 200, 200, 200}},
		{"/projects/secret", [5]int{401, 404, 200, 200, 200}},
		{"/projects/secret/members", [5]int{401, 404, 200, 200, 200}},
		{"/projects/secret/robots", [5]int{401, 404, 200, 200, 200}},
		{"/projects/secret/labels", [5]int{401, 404, 200, 200, 200}},
		{"/projects/secret/logs", [5]int{401, 404, 200, 200, 200}},
		{"/projects/secret/immutability", [5]int{401, 404, 403, 403, 200}},
		{"/projects/secret/repositories/app", [5]int{401, 404, 200, 200, 200}},
		{art, [5]int{401, 404, 200, 200, 200}},
		{"/projects/open", [5]int{200, 200, 200, 200, 200}},
		{"/projects/open/repositories/web", [5]int{200, 200, 200, 200, 200}},
		{"/projects/nope", [5]int{401, 404, 404, 404, 404}},
		{"/admin/users", [5]int{401, 403, 403, 403, 200}},
		{"/admin/robots", [5]int{401, 403, 403, 403, 200}},
		{"/admin/audit", [5]int{401, 403, 403, 403, 200}},
		{"/admin/configuration", [5]int{401, 403, 403, 403, 200}},
		{"/search?q=app", [5]int{200, 200, 200, 200, 200}},
	}
	browsers := []*browser{e.browser(""), e.browser("outsider"), e.browser("guest"), e.browser("dev"), e.browser("admin")}
	names := []string{"anonymous", "outsider", "guest", "developer", "admin"}
	for _, c := range cases {
		for i, b := range browsers {
			resp, body := b.get(c.path)
			if resp.StatusCode != c.want[i] {
				t.Errorf("%s as %s: %d, want %d", c.path, names[i], resp.StatusCode, c.want[i])
			}
			if resp.StatusCode == 401 && !strings.Contains(body, `id="principal"`) {
				t.Errorf("%s as %s: 401 without the sign-in form", c.path, names[i])
			}
		}
	}
	// Search shows only what the caller may see.
	if _, body := browsers[0].get("/search?q=app"); strings.Contains(body, "secret/app") {
		t.Error("anonymous search shows a private repository")
	}
	if _, body := browsers[3].get("/search?q=app"); !strings.Contains(body, "secret/app") {
		t.Error("developer's search misses the project's repository")
	}
}

// TestButtonsFollowPermissions: the forms a caller cannot use are not
// shown, and the server refuses them anyway.
func TestButtonsFollowPermissions(t *testing.T) {
	e, d := permEnv(t)
	art := "/projects/secret/repositories/app/artifacts/" + d
	type want struct{ addTag, delTag, delArt, addMember, delProject, newRobot bool }
	for user, w := range map[string]want{
		"guest": {},
		"dev":   {addTag: true},
		"admin": {true, true, true, true, true, true},
	} {
		b := e.browser(user)
		_, body := b.get(art)
		_, members := b.get("/projects/secret/members")
		_, project := b.get("/projects/secret")
		_, robots := b.get("/projects/secret/robots")
		got := want{strings.Contains(body, `id="add-tag"`), strings.Contains(body, `id="delete-tag-v1"`),
			strings.Contains(body, `id="delete-artifact"`), strings.Contains(members, `id="add-member"`),
			strings.Contains(project, `id="delete-project"`), strings.Contains(robots, `id="create-robot"`)}
		if got != w {
			t.Errorf("%s: buttons %+v, want %+v", user, got, w)
		}
	}
	// The developer forges the delete form: refused, the artifact stays.
	b := e.browser("dev")
	b.submit(art, art+"/delete", url.Values{"confirm": {"on"}})
	if _, err := e.store.GetManifest(e.ctx, "secret/app", d, false); err != nil {
		t.Fatalf("developer deleted the artifact: %v", err)
	}
	if _, body := b.get(art); !strings.Contains(body, "not allowed") {
		t.Error("no refusal shown to the developer")
	}
	// Without the confirmation box the admin's delete does nothing.
	a := e.browser("admin")
	a.submit(art, art+"/delete", url.Values{})
	if _, err := e.store.GetManifest(e.ctx, "secret/app", d, false); err != nil {
		t.Fatal("deleted without confirmation")
	}
	resp, _ := a.submit(art, art+"/delete", url.Values{"confirm": {"on"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/secret/repositories/app" {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := e.store.GetManifest(e.ctx, "secret/app", d, false); err == nil {
		t.Fatal("artifact not deleted")
	}
}

// TestTagAndMemberForms runs the main forms as an admin.
func TestTagAndMemberForms(t *testing.T) {
	e, d := permEnv(t)
	art := "/projects/secret/repositories/app/artifacts/" + d
	a := e.browser("admin")
	if resp, _ := a.submit(art, art+"/tags", url.Values{"tag": {"v2"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add tag: %d", resp.StatusCode)
	}
	if _, body := a.get(art); !strings.Contains(body, "Tag added.") || !strings.Contains(body, `id="delete-tag-v2"`) {
		t.Fatal("tag v2 not shown")
	}
	a.submit(art, art+"/tags/v1/delete", url.Values{})
	if _, err := e.store.GetManifest(e.ctx, "secret/app", "v1", false); err == nil {
		t.Fatal("tag v1 not deleted")
	}
	a.submit("/projects/secret/members", "/projects/secret/members", url.Values{"username": {"outsider"}, "role": {"3"}})
	if _, body := e.browser("outsider").get("/projects/secret"); !strings.Contains(body, "app") {
		t.Fatal("added member cannot see the project")
	}
	a.submit("/projects/secret/members", "/projects/secret/members", url.Values{"kind": {"oidc"}, "username": {"platform-team"}, "role": {"2"}})
	if _, body := a.get("/projects/secret/members?q=platform"); !strings.Contains(body, "<td>platform-team</td><td>Group</td>") {
		t.Fatalf("OIDC group member not listed: %s", body)
	}
	resp, body := a.submit("/projects/secret/robots", "/projects/secret/robots",
		url.Values{"name": {"ci"}, "days": {"30"}, "perm": {"repository/pull", "repository/push"}})
	if resp.StatusCode != 200 || !strings.Contains(body, `id="robot-secret"`) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("robot: %d %s", resp.StatusCode, body)
	}
	if _, body := a.get("/projects/secret/robots"); !strings.Contains(body, "robot$secret&#43;ci") || strings.Contains(body, `id="robot-secret"`) {
		t.Fatal("robot list")
	}
}

// TestHostileNamesEscaped: labels, annotations and descriptions with
// markup are shown as text.
func TestHostileNamesEscaped(t *testing.T) {
	e := newEnv(t)
	p := e.project("lib", true, nil)
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	d := e.push("lib/app", map[string]string{"x": evil, evil: "k"}, "v1")
	if err := e.store.CreateLabel(e.ctx, &meta.Label{Name: evil, Scope: "p", ProjectID: p.ID}); err != nil {
		t.Fatal(err)
	}
	a := e.browser("admin")
	for _, path := range []string{"/projects/lib/repositories/app/artifacts/" + string(d), "/projects/lib/labels",
		"/search?q=" + url.QueryEscape(evil), "/projects?q=" + url.QueryEscape(evil), "/login?next=" + url.QueryEscape(evil)} {
		_, body := a.get(path)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s: unescaped markup", path)
		}
	}
	if _, body := a.get("/projects/lib/labels"); !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("label name not shown escaped")
	}
}
