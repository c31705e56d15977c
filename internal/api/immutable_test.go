package api

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

func rulesPath(project string) string { return Prefix + "/projects/" + project + "/immutabletagrules" }

// ruleBody is a rule as Harbor's UI sends it.
func ruleBody(tagDecoration, tagPattern, repoDecoration, repoPattern string) map[string]any {
	return map[string]any{
		"disabled": false, "priority": 0, "action": "immutable", "template": "immutable_template",
		"tag_selectors": []map[string]any{{"kind": "doublestar", "decoration": tagDecoration, "pattern": tagPattern}},
		"scope_selectors": map[string]any{"repository": []map[string]any{
			{"kind": "doublestar", "decoration": repoDecoration, "pattern": repoPattern}}},
	}
}

// createRule creates a rule and returns its id, read from Location.
func (e *env) createRule(c cred, project string, body any) int64 {
	e.t.Helper()
	resp, b := e.req(c, "POST", rulesPath(project), body)
	if resp.StatusCode != 201 {
		e.t.Fatalf("create rule: %d %s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	prefix := rulesPath(project) + "/"
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, prefix), 10, 64)
	if !strings.HasPrefix(loc, prefix) || err != nil {
		e.t.Fatalf("Location %q, want %s<id>", loc, prefix)
	}
	return id
}

func TestImmutableRules(t *testing.T) {
	e := newEnv(t)
	admin := e.user("padmin", false)
	maint := e.user("maint", false)
	dev := e.user("dev", false)
	guest := e.user("guest", false)
	outsider := e.user("outsider", false)
	p := e.project("imm", false, map[cred]int{admin: int(rbac.RoleProjectAdmin), maint: int(rbac.RoleMaintainer),
		dev: int(rbac.RoleDeveloper), guest: int(rbac.RoleGuest)})
	e.project("pub", true, nil)
	other := e.project("other", false, nil)
	path := rulesPath("imm")

	// Empty: [] with a total of 0.
	resp, b := e.req(admin, "GET", path, nil)
	if resp.StatusCode != 200 || strings.TrimSpace(b) != "[]" || resp.Header.Get("X-Total-Count") != "0" {
		t.Fatalf("empty list: %d %q %v", resp.StatusCode, b, resp.Header)
	}

	// Created as Harbor's UI sends it (its project_id included), read back
	// in Harbor's shape.
	body := ruleBody("matches", "v*", "repoMatches", "**")
	body["project_id"] = p.ID
	id1 := e.createRule(admin, "imm", body)
	list := decode[[]immutableRule](t, e.expect(200, admin, "GET", path, nil))
	want := immutableRule{ID: id1, Action: "immutable", Template: "immutable_template",
		TagSelectors:   []immutableSelector{{Kind: "doublestar", Decoration: "matches", Pattern: "v*"}},
		ScopeSelectors: map[string][]immutableSelector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}}}
	if len(list) != 1 || fmt.Sprint(list[0]) != fmt.Sprint(want) {
		t.Fatalf("list = %+v, want [%+v]", list, want)
	}
	raw := e.expect(200, admin, "GET", path, nil)
	for _, field := range []string{`"id":`, `"priority":0`, `"disabled":false`, `"action":"immutable"`, `"template":"immutable_template"`,
		`"tag_selectors":[`, `"scope_selectors":{"repository":[`} {
		if !strings.Contains(raw, field) {
			t.Errorf("rule JSON %s lacks %s", raw, field)
		}
	}

	// Maintainers create too; defaults are filled in; params and extras
	// are kept; by id with X-Is-Resource-Name semantics.
	id2 := e.createRule(maint, strconv.FormatInt(p.ID, 10), map[string]any{
		"priority": 2, "params": map[string]any{"note": "release tags"},
		"tag_selectors":   []map[string]any{{"decoration": "excludes", "pattern": "{dev-*,test-*}", "extras": `{"untagged":false}`}},
		"scope_selectors": map[string]any{"repository": []map[string]any{{"decoration": "repoExcludes", "pattern": "sandbox/**"}}},
	})
	got := decode[[]immutableRule](t, e.expect(200, maint, "GET", path+"?q=id%3D"+strconv.FormatInt(id2, 10), nil))
	if len(got) != 1 || got[0].Action != "immutable" || got[0].Template != "immutable_template" || got[0].Priority != 2 ||
		got[0].TagSelectors[0].Kind != "doublestar" || got[0].TagSelectors[0].Extras != `{"untagged":false}` ||
		got[0].Params["note"] != "release tags" || got[0].ScopeSelectors["repository"][0].Pattern != "sandbox/**" {
		t.Fatalf("rule %d = %+v", id2, got)
	}
	id3 := e.createRule(admin, "imm", ruleBody("matches", "**", "repoMatches", "db"))

	// Paging, q and sort.
	resp, b = e.req(admin, "GET", path+"?page=1&page_size=2&sort=-priority", nil)
	page := decode[[]immutableRule](t, b)
	if resp.Header.Get("X-Total-Count") != "3" || len(page) != 2 || page[0].ID != id2 || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Fatalf("page 1 by -priority: %v %+v", resp.Header, page)
	}
	e.errorNames(400, admin, "GET", path+"?q=tag_filter%3Dx", nil, "tag_filter")
	e.errorNames(400, admin, "GET", path+"?sort=pattern", nil, "pattern")

	// Duplicates: 409, whatever else differs.
	dup := ruleBody("matches", "v*", "repoMatches", "**")
	dup["priority"], dup["disabled"] = 7, true
	e.errorNames(409, admin, "POST", path, dup, "immutable rule already exists")

	// Bad rules: 400 naming the problem.
	for _, c := range []struct {
		body map[string]any
		says string
	}{
		{ruleBody("matching", "v*", "repoMatches", "**"), `tag_selectors[0].decoration must be "matches" or "excludes"`},
		{ruleBody("matches", "v*", "matches", "**"), `scope_selectors.repository[0].decoration must be "repoMatches" or "repoExcludes"`},
		{ruleBody("matches", "{v1,v2", "repoMatches", "**"), "not a valid doublestar pattern"},
		{ruleBody("matches", "v*", "repoMatches", "[a-"), "not a valid doublestar pattern"},
		{ruleBody("matches", strings.Repeat("x", 257), "repoMatches", "**"), "longer than 256"},
		{map[string]any{"action": "retain", "tag_selectors": []map[string]any{{"decoration": "matches", "pattern": "**"}},
			"scope_selectors": map[string]any{"repository": []map[string]any{{"decoration": "repoMatches", "pattern": "**"}}}}, "action must be"},
		{map[string]any{"tag_selectors": []map[string]any{{"decoration": "matches", "pattern": "**"}}}, "scope_selectors.repository: a rule needs a selector"},
		{map[string]any{"scope_selectors": map[string]any{"repository": []map[string]any{{"decoration": "repoMatches", "pattern": "**"}}}},
			"tag_selectors: a rule needs a selector"},
		{map[string]any{"tag_selectors": []map[string]any{{"kind": "label", "decoration": "matches", "pattern": "**"}},
			"scope_selectors": map[string]any{"repository": []map[string]any{{"decoration": "repoMatches", "pattern": "**"}}}}, `kind must be "doublestar"`},
		{map[string]any{"tag_selectors": []map[string]any{{"decoration": "matches", "pattern": "**"}},
			"scope_selectors": map[string]any{"project": []map[string]any{{"decoration": "nsMatches", "pattern": "**"}}}}, `"project" is not supported`},
	} {
		e.errorNames(400, admin, "POST", path, c.body, c.says)
	}
	resp, b = e.req(admin, "POST", path, nil, "Content-Type", "application/json")
	if resp.StatusCode != 400 {
		t.Errorf("no body: %d %s", resp.StatusCode, b)
	}

	// Who may: project admins and maintainers; other members get 403,
	// anonymous callers 401, those who may not see the project 404.
	for _, c := range []cred{dev, guest} {
		e.expect(403, c, "GET", path, nil)
		e.expect(403, c, "POST", path, ruleBody("matches", "x", "repoMatches", "**"))
		e.expect(403, c, "PUT", fmt.Sprintf("%s/%d", path, id1), ruleBody("matches", "x", "repoMatches", "**"))
		e.expect(403, c, "DELETE", fmt.Sprintf("%s/%d", path, id1), nil)
	}
	e.expect(404, outsider, "GET", path, nil)
	e.expect(404, outsider, "DELETE", fmt.Sprintf("%s/%d", path, id1), nil)
	e.expect(404, cred{}, "GET", path, nil)
	e.expect(401, cred{}, "GET", rulesPath("pub"), nil)
	e.expect(200, e.admin, "GET", rulesPath("pub"), nil)
	e.expect(404, admin, "GET", rulesPath("nope"), nil)

	// Update: replaces the rule; a bare {"disabled": true} toggles it;
	// the id in the body must be the path's.
	rule1 := fmt.Sprintf("%s/%d", path, id1)
	upd := ruleBody("matches", "release-*", "repoMatches", "app/**")
	upd["id"], upd["priority"] = id1, 5
	e.expect(200, maint, "PUT", rule1, upd)
	r1, err := e.store.ImmutableRule(e.ctx, p.ID, id1)
	if err != nil || r1.TagSelectors[0].Pattern != "release-*" || r1.ScopeSelectors["repository"][0].Pattern != "app/**" || r1.Priority != 5 || r1.Disabled {
		t.Fatalf("after update: %+v %v", r1, err)
	}
	e.expect(200, admin, "PUT", rule1, map[string]any{"disabled": true})
	if r1, err = e.store.ImmutableRule(e.ctx, p.ID, id1); err != nil || !r1.Disabled || r1.TagSelectors[0].Pattern != "release-*" {
		t.Fatalf("after a toggle: %+v %v", r1, err)
	}
	e.expect(200, admin, "PUT", rule1, map[string]any{"id": id1, "disabled": false})
	if r1, _ = e.store.ImmutableRule(e.ctx, p.ID, id1); r1.Disabled {
		t.Fatal("the rule is still disabled")
	}
	e.errorNames(400, admin, "PUT", rule1, map[string]any{"id": id2, "disabled": true}, "doesn't match the id in the payload")
	e.errorNames(409, admin, "PUT", rule1, ruleBody("matches", "**", "repoMatches", "db"), "immutable rule already exists")
	e.errorNames(400, admin, "PUT", rule1, ruleBody("matches", "{", "repoMatches", "db"), "not a valid doublestar pattern")
	e.expect(404, admin, "PUT", fmt.Sprintf("%s/%d", path, id3+100), upd)
	e.expect(400, admin, "PUT", path+"/abc", upd)

	// A rule of another project is not found through this one.
	otherID := e.createRule(e.admin, "other", ruleBody("matches", "**", "repoMatches", "**"))
	e.expect(404, admin, "PUT", fmt.Sprintf("%s/%d", path, otherID), ruleBody("matches", "x", "repoMatches", "**"))
	e.expect(404, admin, "DELETE", fmt.Sprintf("%s/%d", path, otherID), nil)
	if _, err := e.store.ImmutableRule(e.ctx, other.ID, otherID); err != nil {
		t.Fatalf("the other project's rule: %v", err)
	}

	// Delete.
	e.expect(200, maint, "DELETE", rule1, nil)
	e.expect(404, maint, "DELETE", rule1, nil)
	e.expect(200, admin, "DELETE", fmt.Sprintf("%s/%d", rulesPath(strconv.FormatInt(p.ID, 10)), id2), nil)
	if l := decode[[]immutableRule](t, e.expect(200, admin, "GET", path, nil)); len(l) != 1 || l[0].ID != id3 {
		t.Fatalf("after deletes: %+v", l)
	}

	// Audited.
	recs, _, err := e.store.ListAudit(e.ctx, meta.AuditQuery{ProjectID: p.ID, ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, r := range recs {
		if r.ResourceType == "immutable_rule" {
			ops[r.Operation]++
		}
	}
	if ops["create"] != 3 || ops["update"] != 3 || ops["delete"] != 2 {
		t.Errorf("audit of rules: %v", ops)
	}
}

func TestImmutableRuleLimit(t *testing.T) {
	e := newEnv(t)
	e.project("many", false, nil)
	for i := range meta.MaxImmutableRules {
		e.createRule(e.admin, "many", ruleBody("matches", fmt.Sprint("t", i), "repoMatches", "**"))
	}
	e.errorNames(400, e.admin, "POST", rulesPath("many"), ruleBody("matches", "more", "repoMatches", "**"), "100 immutable rules")
}

// TestImmutableEnforcedByAPI: an immutable tag cannot be deleted, nor the
// artifact or the repository under it (412 PRECONDITION, Harbor's wording);
// its other tags can; a disabled rule, or one of another project, changes
// nothing; with_immutable_status shows it.
func TestImmutableEnforcedByAPI(t *testing.T) {
	e := newEnv(t)
	maint := e.user("maint", false)
	e.project("imm", false, map[cred]int{maint: int(rbac.RoleMaintainer)})
	e.project("free", false, map[cred]int{maint: int(rbac.RoleMaintainer)})
	d := e.push("imm/app", "v1", "latest")
	e.push("free/app", "v1")
	id := e.createRule(maint, "imm", ruleBody("matches", "v*", "repoMatches", "app"))

	arts := artifactsPath("imm", "app")
	e.errorNames(412, maint, "DELETE", arts+"/"+string(d)+"/tags/v1", nil, "imm/app:v1 configured as immutable, cannot be deleted")
	_, b := e.req(maint, "DELETE", arts+"/v1/tags/v1", nil)
	if errs := decode[harborErrors](t, b); len(errs.Errors) != 1 || errs.Errors[0].Code != "PRECONDITION" {
		t.Errorf("412 body: %s", b)
	}
	e.errorNames(412, maint, "DELETE", arts+"/"+string(d), nil, "configured as immutable, cannot be deleted")
	e.errorNames(412, maint, "DELETE", arts+"/v1", nil, "configured as immutable")
	e.errorNames(412, maint, "DELETE", Prefix+"/projects/imm/repositories/app", nil, "configured as immutable, cannot be deleted")
	if _, err := e.store.GetManifest(e.ctx, "imm/app", "v1", false); err != nil {
		t.Fatalf("v1 after refused deletes: %v", err)
	}
	// The artifact's other tag is not immutable: it goes.
	e.expect(200, maint, "DELETE", arts+"/v1/tags/latest", nil)

	// with_immutable_status: on the artifact list and get, the tags of an
	// artifact, the artifacts of the project; false without it.
	e.expect(201, maint, "POST", arts+"/v1/tags", map[string]any{"name": "stable"})
	immutableOf := func(tags []tag) map[string]bool {
		out := map[string]bool{}
		for _, t := range tags {
			out[t.Name] = t.Immutable
		}
		return out
	}
	wantMarks := map[string]bool{"v1": true, "stable": false}
	if l := decode[[]artifact](t, e.expect(200, maint, "GET", arts+"?with_immutable_status=true", nil)); len(l) != 1 ||
		fmt.Sprint(immutableOf(l[0].Tags)) != fmt.Sprint(wantMarks) {
		t.Errorf("listArtifacts with_immutable_status: %+v", l)
	}
	if a := decode[artifact](t, e.expect(200, maint, "GET", arts+"/stable?with_immutable_status=true", nil)); fmt.Sprint(immutableOf(a.Tags)) != fmt.Sprint(wantMarks) {
		t.Errorf("getArtifact with_immutable_status: %+v", a.Tags)
	}
	if a := decode[artifact](t, e.expect(200, maint, "GET", arts+"/stable", nil)); immutableOf(a.Tags)["v1"] {
		t.Errorf("getArtifact without with_immutable_status: %+v", a.Tags)
	}
	if tags := decode[[]tag](t, e.expect(200, maint, "GET", arts+"/v1/tags?with_immutable_status=true", nil)); fmt.Sprint(immutableOf(tags)) != fmt.Sprint(wantMarks) {
		t.Errorf("listTags with_immutable_status: %+v", tags)
	}
	if l := decode[[]artifact](t, e.expect(200, maint, "GET", Prefix+"/projects/imm/artifacts?with_immutable_status=true", nil)); len(l) != 1 ||
		fmt.Sprint(immutableOf(l[0].Tags)) != fmt.Sprint(wantMarks) {
		t.Errorf("listArtifactsOfProject with_immutable_status: %+v", l)
	}
	e.errorNames(400, maint, "GET", arts+"/v1/tags?with_immutable_status=maybe", nil, "with_immutable_status")
	e.errorNames(400, maint, "GET", arts+"?with_immutable_status=maybe", nil, "with_immutable_status")

	// A copy may not move the immutable tag to another digest.
	other := e.push("imm/src", "v1")
	e.errorNames(412, maint, "POST", arts+"?from="+url.QueryEscape("imm/src:v1"), nil, "imm/app:v1 configured as immutable, cannot be updated")
	if m, _ := e.store.GetManifest(e.ctx, "imm/app", "v1", false); m.Digest != d {
		t.Fatalf("v1 moved to %s by a refused copy", m.Digest)
	}
	_ = other

	// The rule of another project changes nothing here.
	e.expect(200, maint, "DELETE", artifactsPath("free", "app")+"/v1/tags/v1", nil)

	// Disabled, the rule has no effect.
	e.expect(200, maint, "PUT", fmt.Sprintf("%s/%d", rulesPath("imm"), id), map[string]any{"disabled": true})
	if tags := decode[[]tag](t, e.expect(200, maint, "GET", arts+"/v1/tags?with_immutable_status=true", nil)); immutableOf(tags)["v1"] {
		t.Errorf("a disabled rule marks tags: %+v", tags)
	}
	e.expect(200, maint, "DELETE", arts+"/v1/tags/v1", nil)
	e.expect(200, maint, "DELETE", Prefix+"/projects/imm/repositories/app", nil)
}

// TestImmutableRulesGoWithProject: deleting a project deletes its rules,
// and a project re-created under the name has none.
func TestImmutableRulesGoWithProject(t *testing.T) {
	e := newEnv(t)
	e.project("gone", false, nil)
	e.createRule(e.admin, "gone", ruleBody("matches", "**", "repoMatches", "**"))
	e.expect(200, e.admin, "DELETE", Prefix+"/projects/gone", nil)
	e.expect(201, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "gone"})
	if l := decode[[]immutableRule](t, e.expect(200, e.admin, "GET", rulesPath("gone"), nil)); len(l) != 0 {
		t.Fatalf("rules of the re-created project: %+v", l)
	}
}

// TestImmutableRulesRobots: robots may be granted Harbor's immutable-tag
// pairs, and hold exactly what they were granted.
func TestImmutableRulesRobots(t *testing.T) {
	e := newEnv(t)
	e.project("imm", false, nil)
	lister := e.robot(e.admin, "imm", "lister", [][2]string{{"immutable-tag", "list"}})
	writer := e.robot(e.admin, "imm", "writer", [][2]string{{"immutable-tag", "create"}, {"immutable-tag", "list"}})
	pusher := e.robot(e.admin, "imm", "pusher", [][2]string{{"repository", "push"}, {"repository", "pull"}})
	id := e.createRule(writer, "imm", ruleBody("matches", "v*", "repoMatches", "**"))
	if l := decode[[]immutableRule](t, e.expect(200, lister, "GET", rulesPath("imm"), nil)); len(l) != 1 || l[0].ID != id {
		t.Fatalf("listed by a robot: %+v", l)
	}
	e.expect(403, lister, "POST", rulesPath("imm"), ruleBody("matches", "x", "repoMatches", "**"))
	e.expect(403, lister, "DELETE", fmt.Sprintf("%s/%d", rulesPath("imm"), id), nil)
	e.expect(403, pusher, "GET", rulesPath("imm"), nil)
	e.expect(200, writer, "DELETE", fmt.Sprintf("%s/%d", rulesPath("imm"), id), nil)
}
