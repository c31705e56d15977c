package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/rbac"
)

// labelEnv is a private project "team" with one member of each role, an
// outsider, and a second project "other".
type labelEnv struct {
	*env
	padmin, maint, dev, guest, limited, outsider cred
	team, other                                  int64
}

func newLabelEnv(t *testing.T) *labelEnv {
	e := &labelEnv{env: newEnv(t)}
	e.padmin, e.maint, e.dev = e.user("padmin", false), e.user("maint", false), e.user("dev", false)
	e.guest, e.limited, e.outsider = e.user("guest", false), e.user("limited", false), e.user("outsider", false)
	e.team = e.project("team", false, map[cred]int{e.padmin: int(rbac.RoleProjectAdmin), e.maint: int(rbac.RoleMaintainer),
		e.dev: int(rbac.RoleDeveloper), e.guest: int(rbac.RoleGuest), e.limited: int(rbac.RoleLimitedGuest)}).ID
	e.other = e.project("other", false, map[cred]int{e.maint: int(rbac.RoleMaintainer)}).ID
	return e
}

// createLabel creates a label as c and returns its id (from Location).
func (e *labelEnv) createLabel(c cred, body map[string]any) int64 {
	e.t.Helper()
	resp, b := e.req(c, "POST", Prefix+"/labels", body)
	if resp.StatusCode != 201 {
		e.t.Fatalf("create label %v as %s: %d %s", body, c.user, resp.StatusCode, b)
	}
	var id int64
	if _, err := fmt.Sscanf(resp.Header.Get("Location"), Prefix+"/labels/%d", &id); err != nil || id <= 0 {
		e.t.Fatalf("Location %q", resp.Header.Get("Location"))
	}
	return id
}

func labelURL(id int64) string { return fmt.Sprintf("%s/labels/%d", Prefix, id) }

func TestLabelsScopesAndPermissions(t *testing.T) {
	e := newLabelEnv(t)
	g := e.createLabel(e.admin, map[string]any{"name": "prod", "description": "production", "color": "#FF0000", "scope": "g"})
	got := decode[label](t, e.expect(200, cred{}, "GET", labelURL(g), nil)) // global labels: anyone reads
	if got.ID != g || got.Name != "prod" || got.Scope != "g" || got.ProjectID != 0 || got.Color != "#FF0000" ||
		got.Description != "production" || got.CreationTime != got.UpdateTime {
		t.Fatalf("global label: %+v", got)
	}
	e.expect(403, e.maint, "POST", Prefix+"/labels", map[string]any{"name": "x", "scope": "g"})
	e.expect(401, cred{}, "POST", Prefix+"/labels", map[string]any{"name": "x", "scope": "g"})
	e.expect(409, e.admin, "POST", Prefix+"/labels", map[string]any{"name": "prod", "scope": "g"})

	// Project labels: administrators and maintainers create them; the same
	// name is free in each project and beside the global one.
	p := e.createLabel(e.maint, map[string]any{"name": "prod", "scope": "p", "project_id": e.team})
	e.createLabel(e.padmin, map[string]any{"name": "qa", "scope": "p", "project_id": e.team, "color": ""})
	e.createLabel(e.maint, map[string]any{"name": "prod", "scope": "p", "project_id": e.other})
	e.expect(409, e.maint, "POST", Prefix+"/labels", map[string]any{"name": "prod", "scope": "p", "project_id": e.team})
	for c, want := range map[cred]int{e.dev: 403, e.guest: 403, e.limited: 403, e.outsider: 404, {}: 404} {
		e.expect(want, c, "POST", Prefix+"/labels", map[string]any{"name": "new", "scope": "p", "project_id": e.team})
	}
	for _, bad := range []map[string]any{
		{"name": "x", "scope": "p"},                       // no project
		{"name": "x", "scope": "x", "project_id": e.team}, // no such scope
		{"name": "x"}, // no scope
		{"name": "", "scope": "p", "project_id": e.team}, // no name
		{"name": strings.Repeat("n", 129), "scope": "g"}, // too long
		{"name": "x", "scope": "g", "color": "red"},      // not #RRGGBB
		{"name": "x", "scope": "g", "color": "#12345"},   // not #RRGGBB
		{"name": "x", "scope": "g", "description": strings.Repeat("d", 5000)},
	} {
		e.expect(400, e.admin, "POST", Prefix+"/labels", bad)
	}
	e.expect(404, e.admin, "POST", Prefix+"/labels", map[string]any{"name": "x", "scope": "p", "project_id": 99999})

	// Reading: a project's labels by its members who may (not limited
	// guests), as missing to outsiders.
	for c, want := range map[cred]int{e.guest: 200, e.dev: 200, e.limited: 403, e.outsider: 404, {}: 404, e.admin: 200} {
		e.expect(want, c, "GET", labelURL(p), nil)
		e.expect(want, c, "GET", fmt.Sprintf("%s/labels?scope=p&project_id=%d", Prefix, e.team), nil)
	}
	e.expect(404, e.admin, "GET", labelURL(99999), nil)
	e.expect(400, e.admin, "GET", Prefix+"/labels/abc", nil)

	// Listing: scope is required, project_id with scope p; name and q
	// filter; harbor-cli's parameters (empty q and sort, project_id=0).
	list := decode[[]label](t, e.expect(200, cred{}, "GET", Prefix+"/labels?scope=g", nil))
	if len(list) != 1 || list[0].ID != g {
		t.Fatalf("global labels: %+v", list)
	}
	resp, body := e.req(e.guest, "GET", fmt.Sprintf("%s/labels?scope=p&project_id=%d&page=1&page_size=1", Prefix, e.team), nil)
	if list := decode[[]label](t, body); resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "2" || len(list) != 1 ||
		list[0].ID != p || list[0].ProjectID != e.team || list[0].Scope != "p" || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Fatalf("team labels: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	cli := decode[[]label](t, e.expect(200, e.admin, "GET", Prefix+"/labels?page=1&page_size=20&q=&sort=&scope=g&project_id=0", nil))
	if len(cli) != 1 {
		t.Errorf("harbor-cli's label list: %+v", cli)
	}
	if l := decode[[]label](t, e.expect(200, e.dev, "GET", fmt.Sprintf("%s/labels?scope=p&project_id=%d&name=Q", Prefix, e.team), nil)); len(l) != 1 || l[0].Name != "qa" {
		t.Errorf("name=Q: %+v", l)
	}
	if l := decode[[]label](t, e.expect(200, e.dev, "GET", fmt.Sprintf("%s/labels?scope=p&project_id=%d&q=%s&sort=-name", Prefix, e.team,
		url.QueryEscape("name=~r")), nil)); len(l) != 1 || l[0].Name != "prod" {
		t.Errorf("q=name=~r: %+v", l)
	}
	e.expect(400, e.admin, "GET", Prefix+"/labels", nil)
	e.expect(400, e.admin, "GET", Prefix+"/labels?scope=p", nil)
	e.expect(400, e.admin, "GET", Prefix+"/labels?scope=g&q=owner_id%3D1", nil)

	// Updating: name, description and color; not the scope.
	e.expect(403, e.dev, "PUT", labelURL(p), map[string]any{"name": "production"})
	e.expect(404, e.outsider, "PUT", labelURL(p), map[string]any{"name": "production"})
	e.expect(200, e.maint, "PUT", labelURL(p), map[string]any{"name": "production", "color": "#00ff00", "scope": "p"})
	if got := decode[label](t, e.expect(200, e.guest, "GET", labelURL(p), nil)); got.Name != "production" || got.Color != "#00ff00" ||
		got.ProjectID != e.team || got.Description != "" {
		t.Errorf("after update: %+v", got)
	}
	e.expect(409, e.maint, "PUT", labelURL(p), map[string]any{"name": "qa"})
	e.expect(400, e.maint, "PUT", labelURL(p), map[string]any{"name": "production", "scope": "g"})
	e.expect(400, e.maint, "PUT", labelURL(p), map[string]any{"name": "production", "project_id": e.other})
	e.expect(400, e.maint, "PUT", labelURL(p), map[string]any{"name": ""})
	e.expect(403, e.maint, "PUT", labelURL(g), map[string]any{"name": "prod2"})
	e.expect(200, e.admin, "PUT", labelURL(g), map[string]any{"name": "prod2", "scope": "g", "color": "#FFFFFF"})

	// Deleting.
	e.expect(403, e.dev, "DELETE", labelURL(p), nil)
	e.expect(403, e.padmin, "DELETE", labelURL(g), nil)
	e.expect(200, e.maint, "DELETE", labelURL(p), nil)
	e.expect(404, e.maint, "DELETE", labelURL(p), nil)
	e.expect(200, e.admin, "DELETE", labelURL(g), nil)

	logs := e.expect(200, e.admin, "GET", Prefix+"/projects/team/logs?q="+url.QueryEscape("resource_type=label")+"&page_size=100", nil)
	if got := decode[[]auditLog](t, logs); len(got) != 4 { // two created, one updated, one deleted
		t.Errorf("team's label audit records: %s", logs)
	}
	all := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?q="+url.QueryEscape("resource=prod2")+"&page_size=100", nil)
	if got := decode[[]auditLog](t, all); len(got) != 2 || got[0].Username != "admin" {
		t.Errorf("global label's audit records: %s", all)
	}
}

func TestArtifactLabels(t *testing.T) {
	e := newLabelEnv(t)
	a := e.push("team/app", "v1")
	b := e.push("team/app", "v2")
	g := e.createLabel(e.admin, map[string]any{"name": "approved", "scope": "g"})
	p := e.createLabel(e.maint, map[string]any{"name": "qa", "scope": "p", "project_id": e.team})
	o := e.createLabel(e.maint, map[string]any{"name": "qa", "scope": "p", "project_id": e.other})
	base := Prefix + "/projects/team/repositories/app/artifacts/"
	add := func(c cred, ref string, id int64, want int) {
		t.Helper()
		e.expect(want, c, "POST", base+ref+"/labels", map[string]any{"id": id, "name": "ignored"})
	}
	add(e.dev, "v1", g, 200)
	add(e.dev, string(a), g, 409)
	add(e.maint, "v1", p, 200)
	add(e.dev, "v2", p, 200)
	add(e.dev, "v1", o, 404) // another project's label
	add(e.dev, "v1", 99999, 404)
	add(e.dev, "v1", 0, 400)
	add(e.guest, "v2", g, 403)
	add(e.outsider, "v2", g, 404)
	add(e.dev, "nope", g, 404)

	labelsOf := func(ref, query string) []label {
		t.Helper()
		return decode[artifact](t, e.expect(200, e.guest, "GET", base+ref+query, nil)).Labels
	}
	if ls := labelsOf("v1", "?with_label=true"); len(ls) != 2 || ls[0].ID != g || ls[1].ID != p || ls[1].Name != "qa" {
		t.Fatalf("labels of v1: %+v", ls)
	}
	if body := e.expect(200, e.guest, "GET", base+"v1", nil); !strings.Contains(body, `"labels":[]`) { // not asked for
		t.Errorf("without with_label: %s", body)
	}
	e.expect(400, e.guest, "GET", base+"v1?with_label=maybe", nil)
	arts := decode[[]artifact](t, e.expect(200, e.guest, "GET", strings.TrimSuffix(base, "/")+"?with_label=true", nil))
	if len(arts) != 2 {
		t.Fatalf("artifacts: %+v", arts)
	}
	for _, art := range arts {
		want := map[string]int{string(a): 2, string(b): 1}[art.Digest]
		if len(art.Labels) != want {
			t.Errorf("%s: labels %+v, want %d", art.Digest, art.Labels, want)
		}
	}

	// q=labels: one id, all of (…), any of {…}.
	digests := func(q string) []string {
		t.Helper()
		var out []string
		for _, art := range decode[[]artifact](t, e.expect(200, e.guest, "GET", strings.TrimSuffix(base, "/")+"?q="+url.QueryEscape(q), nil)) {
			out = append(out, art.Digest)
		}
		return out
	}
	for q, want := range map[string]int{
		fmt.Sprintf("labels=%d", g): 1, fmt.Sprintf("labels=%d", p): 2, fmt.Sprintf("labels=(%d %d)", g, p): 1,
		fmt.Sprintf("labels={%d %d}", g, p): 2, "labels=99999": 0,
	} {
		if got := digests(q); len(got) != want {
			t.Errorf("q=%s: %v, want %d", q, got, want)
		}
	}
	if got := digests(fmt.Sprintf("labels=(%d %d)", g, p)); len(got) != 1 || got[0] != string(a) {
		t.Errorf("labels=(g p): %v", got)
	}
	e.expect(400, e.guest, "GET", strings.TrimSuffix(base, "/")+"?q="+url.QueryEscape("labels=qa"), nil)

	// Removing.
	e.expect(403, e.guest, "DELETE", fmt.Sprintf("%sv1/labels/%d", base, p), nil)
	e.expect(200, e.dev, "DELETE", fmt.Sprintf("%sv1/labels/%d", base, p), nil)
	e.expect(404, e.dev, "DELETE", fmt.Sprintf("%sv1/labels/%d", base, p), nil)
	e.expect(400, e.dev, "DELETE", base+"v1/labels/x", nil)
	if ls := labelsOf("v1", "?with_label=true"); len(ls) != 1 || ls[0].ID != g {
		t.Errorf("after removing qa: %+v", ls)
	}

	// Deleting a label removes it from the artifacts; deleting an
	// artifact takes its labels along.
	e.expect(200, e.admin, "DELETE", labelURL(g), nil)
	if ls := labelsOf("v1", "?with_label=true"); ls == nil || len(ls) != 0 {
		t.Errorf("after deleting the label: %+v (want [])", ls)
	}
	e.expect(200, e.admin, "DELETE", base+"v2", nil)
	if got := digests(fmt.Sprintf("labels=%d", p)); len(got) != 0 {
		t.Errorf("labels=qa after deleting v2: %v", got)
	}
	e.expect(200, e.maint, "DELETE", labelURL(p), nil)

	logs := e.expect(200, e.admin, "GET", Prefix+"/projects/team/logs?q="+url.QueryEscape("resource_type=artifact-label")+"&page_size=100", nil)
	if got := decode[[]auditLog](t, logs); len(got) != 4 || !strings.Contains(logs, "label qa") { // three added, one removed
		t.Errorf("artifact-label audit records: %s", logs)
	}
}

// TestLabelRobots: a robot holds exactly the label pairs it was granted.
func TestLabelRobots(t *testing.T) {
	e := newLabelEnv(t)
	bot := e.robot(e.padmin, "team", "labeler", [][2]string{{"label", "create"}, {"label", "list"},
		{"artifact-label", "create"}, {"repository", "update"}, {"repository", "list"}})
	e.push("team/app", "v1")
	id := e.createLabel(bot, map[string]any{"name": "bot", "scope": "p", "project_id": e.team})
	e.expect(200, bot, "GET", fmt.Sprintf("%s/labels?scope=p&project_id=%d", Prefix, e.team), nil)
	e.expect(403, bot, "GET", labelURL(id), nil) // label:read not granted
	e.expect(403, bot, "PUT", labelURL(id), map[string]any{"name": "renamed"})
	e.expect(403, bot, "POST", Prefix+"/labels", map[string]any{"name": "g", "scope": "g"})
	e.expect(200, bot, "POST", Prefix+"/projects/team/repositories/app/artifacts/v1/labels", map[string]any{"id": id})
	e.expect(403, bot, "DELETE", fmt.Sprintf("%s/projects/team/repositories/app/artifacts/v1/labels/%d", Prefix, id), nil)
	e.expect(200, bot, "PUT", Prefix+"/projects/team/repositories/app", map[string]string{"description": "by a robot"})
	e.expect(404, bot, "GET", fmt.Sprintf("%s/labels?scope=p&project_id=%d", Prefix, e.other), nil) // not its project
}
