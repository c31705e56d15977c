package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

func TestProjectsPagingAndVisibility(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", false)
	for i := range 23 {
		e.project(fmt.Sprintf("p%02d", i), i%2 == 0, nil)
	}
	e.project("mine", false, map[cred]int{alice: int(rbac.RoleDeveloper)})

	resp, body := e.req(e.admin, "GET", Prefix+"/projects?page=2&page_size=10", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "24" {
		t.Fatalf("status %d, total %q", resp.StatusCode, resp.Header.Get("X-Total-Count"))
	}
	link := resp.Header.Get("Link")
	if !strings.Contains(link, `page=1&page_size=10>; rel="prev"`) || !strings.Contains(link, `page=3&page_size=10>; rel="next"`) {
		t.Errorf("Link %q", link)
	}
	if got := decode[[]project](t, body); len(got) != 10 || got[0].Name != "p09" {
		t.Errorf("page 2: %d projects, first %+v", len(got), got[0])
	}
	resp, _ = e.req(e.admin, "GET", Prefix+"/projects?page=3&page_size=10", nil)
	if link := resp.Header.Get("Link"); strings.Contains(link, "next") || !strings.Contains(link, "prev") {
		t.Errorf("last page Link %q", link)
	}

	// alice: 12 public projects and her own; anonymous: the public ones.
	resp, body = e.req(alice, "GET", Prefix+"/projects?page_size=100", nil)
	if resp.Header.Get("X-Total-Count") != "13" || !strings.Contains(body, `"name":"mine"`) {
		t.Errorf("alice sees %s: %s", resp.Header.Get("X-Total-Count"), body)
	}
	resp, body = e.req(cred{}, "GET", Prefix+"/projects?page_size=100&name=p0", nil)
	got := decode[[]project](t, body)
	if resp.Header.Get("X-Total-Count") != "5" || len(got) != 5 || got[0].Metadata["public"] != "true" {
		t.Errorf("anonymous sees %s: %s", resp.Header.Get("X-Total-Count"), body)
	}
	e.expect(200, cred{}, "GET", Prefix+"/projects?public=false", nil)
	e.expect(404, alice, "GET", Prefix+"/projects/p01", nil) // private, not hers: as if missing
	e.expect(200, alice, "GET", Prefix+"/projects/p02", nil)

	// Create; an all-digit name, which would read as an id, is refused.
	resp, _ = e.req(alice, "POST", Prefix+"/projects", map[string]any{"project_name": "p123", "metadata": map[string]string{"public": "true"}})
	if resp.StatusCode != 201 || !strings.HasPrefix(resp.Header.Get("Location"), Prefix+"/projects/") {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = e.req(alice, "POST", Prefix+"/projects", map[string]any{"project_name": "123"})
	if errs := decode[harborErrors](t, body); resp.StatusCode != 400 || len(errs.Errors) != 1 || errs.Errors[0].Code != "BAD_REQUEST" {
		t.Fatalf("create an all-digit project: %d %s", resp.StatusCode, body)
	}
	// One that exists from before stays readable: HEAD, by name
	// (X-Is-Resource-Name) and by id, update and delete.
	if err := e.store.CreateProject(e.ctx, &meta.Project{Name: "123", Public: true, OwnerID: e.userID("alice")}); err != nil {
		t.Fatal(err)
	}
	e.expect(200, alice, "HEAD", Prefix+"/projects?project_name=123", nil)
	e.expect(404, alice, "HEAD", Prefix+"/projects?project_name=nope", nil)
	byName := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/123", nil, "X-Is-Resource-Name", "true"))
	if byName.Name != "123" || byName.OwnerName != "alice" || byName.CurrentUserRoleID != 1 || byName.Metadata["public"] != "true" {
		t.Errorf("by name: %+v", byName)
	}
	byID := decode[project](t, e.expect(200, alice, "GET", fmt.Sprintf("%s/projects/%d", Prefix, byName.ProjectID), nil))
	if byID.Name != "123" {
		t.Errorf("by id: %+v", byID)
	}
	e.expect(200, alice, "GET", Prefix+"/projects/123/repositories", nil) // {project_name}: always a name
	e.expect(200, alice, "PUT", Prefix+"/projects/123", map[string]any{"metadata": map[string]string{"public": "false"}}, "X-Is-Resource-Name", "true")
	e.expect(200, alice, "DELETE", Prefix+"/projects/123", nil, "X-Is-Resource-Name", "true")
}

func TestErrorShapes(t *testing.T) {
	e := newEnv(t)
	e.project("full", false, nil)
	e.push("full/app", "v1")
	for _, c := range []struct {
		status       int
		code         string
		who          cred
		method, path string
		body         any
	}{
		{404, "NOT_FOUND", e.admin, "GET", "/projects/nope", nil},
		{400, "BAD_REQUEST", e.admin, "GET", "/projects?page_size=1000", nil},
		{400, "BAD_REQUEST", e.admin, "POST", "/projects", map[string]string{"project_name": "Bad Name"}},
		{401, "UNAUTHORIZED", cred{"admin", "wrong-password"}, "GET", "/projects", nil},
		{401, "UNAUTHORIZED", cred{}, "GET", "/users", nil},
		{403, "FORBIDDEN", e.user("bob", false), "GET", "/users", nil},
		{409, "CONFLICT", e.admin, "POST", "/projects", map[string]string{"project_name": "full"}},
		{412, "PRECONDITION", e.admin, "DELETE", "/projects/full", nil},
		{405, "METHOD_NOT_ALLOWED", e.admin, "PATCH", "/projects", nil},
		{404, "NOT_FOUND", e.admin, "GET", "/nothing-here", nil},
	} {
		resp, body := e.req(c.who, c.method, Prefix+c.path, c.body)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.status)
			continue
		}
		got := decode[harborErrors](t, body)
		if len(got.Errors) != 1 || got.Errors[0].Code != c.code || got.Errors[0].Message == "" {
			t.Errorf("%s %s: %s, want code %s", c.method, c.path, body, c.code)
		}
	}
}

func TestRepositoriesArtifactsTags(t *testing.T) {
	e := newEnv(t)
	dev := e.user("dev", false)
	e.project("team", false, map[cred]int{dev: int(rbac.RoleDeveloper)})
	d := e.push("team/svc/api", "latest", "v1")
	e.push("team/web")

	repos := decode[[]repository](t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories?q=name%3D~svc", nil))
	if len(repos) != 1 || repos[0].Name != "team/svc/api" || repos[0].ArtifactCount != 1 {
		t.Fatalf("repositories: %+v", repos)
	}
	for _, enc := range []string{"svc%252Fapi", "svc%2Fapi"} {
		arts := decode[[]artifact](t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories/"+enc+"/artifacts", nil))
		if len(arts) != 1 || arts[0].Digest != string(d) || arts[0].Type != "IMAGE" || len(arts[0].Tags) != 2 ||
			arts[0].MediaType != "application/vnd.oci.image.config.v1+json" || arts[0].Size <= 0 {
			t.Fatalf("%s artifacts: %+v", enc, arts)
		}
	}
	base := Prefix + "/projects/team/repositories/svc%252Fapi/artifacts/"
	a := decode[artifact](t, e.expect(200, dev, "GET", base+"v1", nil))
	if a.Digest != string(d) || a.ManifestMediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("artifact by tag: %+v", a)
	}
	e.expect(201, dev, "POST", base+string(d)+"/tags", map[string]string{"name": "stable"})
	e.expect(409, dev, "POST", base+"latest/tags", map[string]string{"name": "stable"})
	e.expect(400, dev, "POST", base+"latest/tags", map[string]string{"name": "-bad"})
	tags := decode[[]tag](t, e.expect(200, dev, "GET", base+"latest/tags", nil))
	if len(tags) != 3 {
		t.Errorf("tags: %+v", tags)
	}
	e.expect(403, dev, "DELETE", base+"latest/tags/stable", nil) // developers may not delete tags
	e.expect(200, e.admin, "DELETE", base+"latest/tags/stable", nil)
	e.expect(404, e.admin, "DELETE", base+"latest/tags/stable", nil)
	e.expect(404, dev, "GET", base+"nope", nil)

	logs := e.expect(200, dev, "GET", Prefix+"/projects/team/logs?q="+url.QueryEscape("operation=create,resource=team/svc/api:stable"), nil)
	if got := decode[[]auditLog](t, logs); len(got) != 1 || got[0].Username != "dev" || got[0].ResourceType != "tag" {
		t.Errorf("project logs: %s", logs)
	}

	e.expect(200, e.admin, "DELETE", base+"v1", nil)
	e.expect(404, e.admin, "GET", base+"latest", nil)
	e.expect(200, e.admin, "DELETE", Prefix+"/projects/team/repositories/svc%2Fapi", nil)
	e.expect(200, e.admin, "DELETE", Prefix+"/projects/team/repositories/web", nil)
	e.expect(404, e.admin, "DELETE", Prefix+"/projects/team/repositories/web", nil)
	e.expect(200, e.admin, "DELETE", Prefix+"/projects/team", nil)

	all := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?q=operation%3Ddelete&page_size=100", nil)
	if !strings.Contains(all, `"resource":"team/web"`) || !strings.Contains(all, `"resource_type":"project"`) {
		t.Errorf("audit-logs: %s", all)
	}
	if fuzzy := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?q=operation%3D~del&page_size=100", nil); fuzzy != all {
		t.Errorf("audit-logs q=operation=~del differs from operation=delete: %s", fuzzy)
	}
	e.expect(400, e.admin, "GET", Prefix+"/audit-logs?q=nosuchkey%3Dx", nil)
	e.checkNoSecrets(nil)
}

func TestMembers(t *testing.T) {
	e := newEnv(t)
	owner, bob := e.user("owner", false), e.user("bob", false)
	e.project("p", false, map[cred]int{owner: int(rbac.RoleProjectAdmin)})
	base := Prefix + "/projects/p/members"
	resp, _ := e.req(owner, "POST", base, map[string]any{"role_id": 2, "member_user": map[string]string{"username": "bob"}})
	if resp.StatusCode != 201 {
		t.Fatalf("add member: %d", resp.StatusCode)
	}
	mid := resp.Header.Get("Location")[strings.LastIndexByte(resp.Header.Get("Location"), '/')+1:]
	e.expect(409, owner, "POST", base, map[string]any{"role_id": 2, "member_user": map[string]string{"username": "bob"}})
	e.expect(400, owner, "POST", base, map[string]any{"role_id": 9, "member_user": map[string]string{"username": "owner"}})
	e.expect(404, owner, "POST", base, map[string]any{"role_id": 2, "member_user": map[string]string{"username": "ghost"}})
	m := decode[member](t, e.expect(200, bob, "GET", base+"/"+mid, nil))
	if m.EntityName != "bob" || m.RoleID != 2 || m.RoleName != "developer" || m.EntityType != "u" {
		t.Errorf("member: %+v", m)
	}
	e.expect(403, bob, "PUT", base+"/"+mid, map[string]int{"role_id": 1})
	e.expect(200, owner, "PUT", base+"/"+mid, map[string]int{"role_id": 4})
	list := decode[[]member](t, e.expect(200, bob, "GET", base+"?entityname=BO", nil))
	if len(list) != 1 || list[0].RoleName != "maintainer" {
		t.Errorf("members: %+v", list)
	}
	e.expect(200, owner, "DELETE", base+"/"+mid, nil)
	e.expect(404, bob, "GET", base, nil) // no longer a member: the private project is gone for him
	logs := decode[[]auditLog](t, e.expect(200, owner, "GET", Prefix+"/projects/p/logs?page_size=100", nil))
	var ops []string
	for _, l := range logs {
		ops = append(ops, l.Operation+" "+l.ResourceType+" "+l.Resource)
	}
	if got := strings.Join(ops, "; "); got != "delete member bob; update member bob:maintainer; create member bob:developer" {
		t.Errorf("member audit: %s", got)
	}
}
