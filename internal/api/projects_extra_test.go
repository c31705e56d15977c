package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// errorNames checks an error answer's status and that its message names
// every one of want.
func (e *env) errorNames(status int, c cred, method, path string, body any, want ...string) {
	e.t.Helper()
	resp, b := e.req(c, method, path, body)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	errs := decode[harborErrors](e.t, b)
	if len(errs.Errors) != 1 {
		e.t.Fatalf("%s %s: %s", method, path, b)
	}
	for _, w := range want {
		if !strings.Contains(errs.Errors[0].Message, w) {
			e.t.Errorf("%s %s: message %q does not name %q", method, path, errs.Errors[0].Message, w)
		}
	}
}

func TestProjectMetadataThroughProject(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", false)
	guest := e.user("guest", false)
	e.expect(201, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "team",
		"metadata": map[string]string{"public": "false", "auto_scan": "true", "severity": "High"}})
	p, err := e.store.GetProjectByName(e.ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetMember(e.ctx, p.ID, e.userID("guest"), int(rbac.RoleGuest)); err != nil {
		t.Fatal(err)
	}
	path := Prefix + "/projects/team"
	got := decode[project](t, e.expect(200, alice, "GET", path, nil))
	if got.Metadata["auto_scan"] != "true" || got.Metadata["severity"] != "high" || got.Metadata["public"] != "false" ||
		!got.Togglable || got.Deleted || got.RegistryID != nil || got.CVEAllowlist.ProjectID != p.ID || got.CVEAllowlist.Items == nil {
		t.Fatalf("GET after create: %+v", got)
	}
	if g := decode[project](t, e.expect(200, guest, "GET", path, nil)); g.Togglable || g.Metadata["auto_scan"] != "true" {
		t.Errorf("as a guest: %+v", g)
	}
	if body := e.expect(200, alice, "GET", path, nil); !strings.Contains(body, `"registry_id":null`) {
		t.Errorf("registry_id is not null: %s", body)
	}

	// A known key is kept (it used to be dropped with a 200), the others stay.
	e.expect(200, alice, "PUT", path, map[string]any{"metadata": map[string]string{"prevent_vul": "true", "severity": "negligible"}})
	got = decode[project](t, e.expect(200, alice, "GET", path, nil))
	if got.Metadata["prevent_vul"] != "true" || got.Metadata["severity"] != "none" || got.Metadata["auto_scan"] != "true" {
		t.Fatalf("after PUT: %+v", got.Metadata)
	}
	// Unknown keys and bad values: 400 naming them, nothing stored.
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"auto_scna": "true", "auto_scan": "false"}}, "auto_scna")
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"auto_scan": "yes"}}, "auto_scan", "yes")
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"severity": "severe"}}, "severity")
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"proxy_speed_kb": "fast"}}, "proxy_speed_kb")
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"max_upstream_conn": "0"}}, "max_upstream_conn")
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"proxy_cache_filter_pattern": "library/**"}}, "proxy")
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]string{"retention_id": "7"}}, "retention_id")
	e.errorNames(400, alice, "PUT", path, map[string]any{"metadata": map[string]any{"auto_scan": true}}, "JSON")
	if got := decode[project](t, e.expect(200, alice, "GET", path, nil)); got.Metadata["auto_scan"] != "true" {
		t.Fatalf("a refused PUT changed metadata: %+v", got.Metadata)
	}
	e.expect(403, guest, "PUT", path, map[string]any{"metadata": map[string]string{"auto_scan": "false"}})

	// harbor-cli's "project config update": GET the project, PUT its
	// metadata back with one flag changed. retention_id set by the
	// retention API goes back unchanged.
	if err := e.store.ChangeProject(e.ctx, p.ID, meta.ProjectChange{Metadata: map[string]string{"retention_id": "7"}}); err != nil {
		t.Fatal(err)
	}
	md := decode[project](t, e.expect(200, alice, "GET", path, nil)).Metadata
	md["enable_content_trust_cosign"] = "true"
	e.expect(200, alice, "PUT", path, map[string]any{"metadata": md})
	want := projectMetadata{"public": "false", "auto_scan": "true", "severity": "none", "prevent_vul": "true",
		"retention_id": "7", "enable_content_trust_cosign": "true"}
	if got := decode[project](t, e.expect(200, alice, "GET", path, nil)).Metadata; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the round trip: %v, want %v", got, want)
	}
	// The deprecated top-level public, and metadata.public which wins.
	e.expect(200, alice, "PUT", path, map[string]any{"public": true})
	if got := decode[project](t, e.expect(200, alice, "GET", path, nil)); got.Metadata["public"] != "true" {
		t.Fatalf("public: %+v", got.Metadata)
	}
	e.authn.Revocations = &auth.Revocations{Store: e.store}
	e.expect(200, alice, "PUT", path, map[string]any{"public": true, "metadata": map[string]string{"public": "false"}})
	if pp, _ := e.store.GetProject(e.ctx, p.ID); pp.Public {
		t.Fatal("metadata.public did not win")
	}
	if e.authn.Revocations.Epoch(auth.AnonymousIdentity.Name) == 0 { // was never revoked before this fix
		t.Error("anonymous tokens not revoked when the project became private")
	}
	// storage_limit cannot change here; the same value may come back.
	e.expect(200, alice, "PUT", path, map[string]any{"storage_limit": -1})
	e.errorNames(400, alice, "PUT", path, map[string]any{"storage_limit": 10}, "storage_limit")
}

func TestProjectCreateShapes(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", false)
	exp := int64(1900000000)
	e.expect(201, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "limited", "storage_limit": 1 << 30,
		"cve_allowlist": map[string]any{"expires_at": exp, "items": []map[string]string{{"cve_id": "CVE-2024-1"}, {"cve_id": " CVE-2024-2 "}}}})
	got := decode[project](t, e.expect(200, e.admin, "GET", Prefix+"/projects/limited", nil))
	l := got.CVEAllowlist
	if l.ID == 0 || l.ProjectID != got.ProjectID || l.ExpiresAt == nil || *l.ExpiresAt != exp || len(l.Items) != 2 ||
		l.Items[1].CVEID != "CVE-2024-2" || l.CreationTime == nil {
		t.Fatalf("cve_allowlist: %+v", l)
	}
	sum := decode[projectSummary](t, e.expect(200, e.admin, "GET", Prefix+"/projects/limited/summary", nil))
	if sum.Quota == nil || sum.Quota.Hard["storage"] != 1<<30 {
		t.Fatalf("summary quota: %+v", sum.Quota)
	}

	// harbor-cli sends storage_limit always: 0 and -1 are the default for
	// anyone; another value is an administrator's.
	e.expect(201, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "zero", "storage_limit": 0, "public": false})
	e.expect(201, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "unlimited", "storage_limit": -1})
	e.errorNames(403, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "big", "storage_limit": 1 << 40}, "storage_limit")
	e.errorNames(400, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "big", "storage_limit": -5}, "storage_limit")
	e.errorNames(400, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "big", "storage_limit": int64(1) << 51}, "storage_limit")
	e.errorNames(403, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "proxy", "registry_id": 1}, "proxy")
	e.errorNames(400, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "proxy", "registry_id": 1}, "registry_id")
	for name, allow := range map[string]map[string]any{
		"empty":     {"items": []map[string]string{{"cve_id": " "}}},
		"duplicate": {"items": []map[string]string{{"cve_id": "CVE-1"}, {"cve_id": "CVE-1"}}},
		"project":   {"project_id": 99, "items": []map[string]string{}},
		"too long":  {"items": []map[string]string{{"cve_id": strings.Repeat("C", maxCVEIDLength+1)}}},
		"too many":  {"items": make([]map[string]string, maxCVEAllowlist+1)},
	} {
		t.Run(name, func(t *testing.T) {
			e.errorNames(400, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "bad", "cve_allowlist": allow}, "cve_allowlist")
		})
	}
	e.errorNames(400, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "bad", "metadata": map[string]string{"retention_id": "3"}}, "retention_id")
	e.errorNames(400, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "bad", "metadata": map[string]string{"autoscan": "true"}}, "autoscan")
	e.expect(404, alice, "GET", Prefix+"/projects/bad", nil) // nothing of a refused create remains

	// PUT replaces the allowlist; project_id must be the project's or 0.
	id := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/zero", nil)).ProjectID
	e.expect(200, alice, "PUT", Prefix+"/projects/zero", map[string]any{"cve_allowlist": map[string]any{"project_id": id,
		"items": []map[string]string{{"cve_id": "CVE-2023-9"}}, "creation_time": "ignored"}})
	if l := decode[project](t, e.expect(200, alice, "GET", Prefix+"/projects/zero", nil)).CVEAllowlist; len(l.Items) != 1 || l.ExpiresAt != nil {
		t.Fatalf("after PUT: %+v", l)
	}
	e.errorNames(400, alice, "PUT", Prefix+"/projects/zero", map[string]any{"cve_allowlist": map[string]any{"project_id": id + 1}}, "project_id")
}

func TestProjectMetadataOperations(t *testing.T) {
	e := newEnv(t)
	owner, maint, dev, stranger := e.user("owner", false), e.user("maint", false), e.user("dev", false), e.user("stranger", false)
	p := e.project("team", true, map[cred]int{owner: int(rbac.RoleProjectAdmin), maint: int(rbac.RoleMaintainer),
		dev: int(rbac.RoleDeveloper)})
	e.project("hidden", false, nil)
	e.authn.Revocations = &auth.Revocations{Store: e.store}
	base := Prefix + "/projects/team/metadatas/"

	// Permissions: project admins write, maintainers read, developers
	// neither; anonymous visitors of a public project may not read.
	e.expect(200, owner, "POST", base, map[string]string{"auto_scan": "true"})
	e.expect(403, maint, "POST", base, map[string]string{"prevent_vul": "true"})
	e.expect(403, maint, "PUT", base+"auto_scan", map[string]string{"auto_scan": "false"})
	e.expect(403, maint, "DELETE", base+"auto_scan", nil)
	e.expect(403, dev, "GET", base, nil)
	e.expect(401, cred{}, "GET", base, nil)
	e.expect(403, stranger, "GET", base, nil) // public: visible, not allowed
	e.expect(404, stranger, "GET", Prefix+"/projects/hidden/metadatas/", nil)
	e.expect(404, owner, "GET", Prefix+"/projects/nope/metadatas/", nil)

	list := decode[projectMetadata](t, e.expect(200, maint, "GET", base, nil))
	if fmt.Sprint(list) != "map[auto_scan:true public:true]" {
		t.Fatalf("list: %v", list)
	}
	byID := fmt.Sprintf("%s/projects/%d/metadatas/", Prefix, p.ID)
	if got := decode[projectMetadata](t, e.expect(200, e.admin, "GET", byID+"auto_scan", nil)); fmt.Sprint(got) != "map[auto_scan:true]" {
		t.Fatalf("get by project id: %v", got)
	}
	e.errorNames(404, owner, "GET", base+"severity", nil, "severity")
	e.errorNames(400, owner, "GET", base+"colour", nil, "colour")

	// Add: one pair, a new key; 409 for one the project has.
	e.errorNames(409, owner, "POST", base, map[string]string{"auto_scan": "false"}, "auto_scan")
	e.errorNames(409, owner, "POST", base, map[string]string{"public": "false"}, "public")
	e.errorNames(400, owner, "POST", base, map[string]string{"severity": "low", "prevent_vul": "true"}, "one key")
	e.errorNames(400, owner, "POST", base, map[string]string{"colour": "red"}, "colour")
	e.errorNames(400, owner, "POST", base, map[string]string{"severity": "urgent"}, "severity")
	e.errorNames(400, owner, "POST", base, map[string]string{"retention_id": "3"}, "retention_id")
	e.expect(200, owner, "POST", base, map[string]string{"severity": "Critical"})

	// Update: exactly {meta_name: value}; an absent key is added.
	e.errorNames(400, owner, "PUT", base+"severity", map[string]string{"auto_scan": "false"}, "severity", "auto_scan")
	e.errorNames(400, owner, "PUT", base+"severity", map[string]string{"severity": "low", "auto_scan": "true"}, "one key")
	e.expect(200, owner, "PUT", base+"severity", map[string]string{"severity": "low"})
	e.expect(200, owner, "PUT", base+"reuse_sys_cve_allowlist", map[string]string{"reuse_sys_cve_allowlist": "true"})
	// public through the per-key API is the project's flag; making the
	// project private ends anonymous tokens granted pull in it.
	before := e.authn.Revocations.Epoch(auth.AnonymousIdentity.Name)
	e.expect(200, owner, "PUT", base+"public", map[string]string{"public": "false"})
	if pp, _ := e.store.GetProject(e.ctx, p.ID); pp.Public {
		t.Fatal("PUT metadatas/public did not make the project private")
	}
	if after := e.authn.Revocations.Epoch(auth.AnonymousIdentity.Name); after <= before {
		t.Errorf("anonymous tokens not revoked when the project became private (epoch %d → %d)", before, after)
	}
	list = decode[projectMetadata](t, e.expect(200, owner, "GET", base, nil))
	if fmt.Sprint(list) != "map[auto_scan:true public:false reuse_sys_cve_allowlist:true severity:low]" {
		t.Fatalf("list after updates: %v", list)
	}

	// Delete: 404 once gone; public and retention_id stay.
	e.expect(200, owner, "DELETE", base+"severity", nil)
	e.errorNames(404, owner, "DELETE", base+"severity", nil, "severity")
	e.errorNames(400, owner, "DELETE", base+"public", nil, "public")
	e.errorNames(400, owner, "DELETE", base+"colour", nil, "colour")
	e.expect(404, owner, "GET", base+"severity", nil)
	e.expect(404, owner, "GET", base+"auto_scan/x", nil)

	logs := decode[[]map[string]any](t, e.expect(200, e.admin, "GET", Prefix+"/audit-logs?page_size=100", nil))
	var ops []string
	for _, l := range logs {
		if l["resource_type"] == "project_metadata" {
			ops = append(ops, fmt.Sprint(l["operation"], " ", l["resource"]))
		}
	}
	if !strings.Contains(strings.Join(ops, ","), "delete team:severity") || len(ops) != 6 {
		t.Errorf("audit records: %v", ops)
	}
}

func TestProjectSummaryAndDeletable(t *testing.T) {
	e := newEnv(t)
	owner, guest, limited, stranger := e.user("owner", false), e.user("guest", false), e.user("limited", false), e.user("stranger", false)
	dev := e.user("dev", false)
	e.project("team", true, map[cred]int{owner: int(rbac.RoleProjectAdmin), guest: int(rbac.RoleGuest),
		limited: int(rbac.RoleLimitedGuest), dev: int(rbac.RoleDeveloper)})
	e.project("other", false, nil)
	base := Prefix + "/projects/team"

	sum := decode[projectSummary](t, e.expect(200, owner, "GET", base+"/summary", nil))
	// admin (the env's project owner) and owner are project admins.
	if sum.RepoCount != 0 || sum.ProjectAdminCount != 2 || sum.GuestCount != 1 || sum.LimitedGuestCount != 1 ||
		sum.DeveloperCount != 1 || sum.MaintainerCount != 0 || sum.Quota == nil ||
		sum.Quota.Hard["storage"] != meta.UnlimitedStorage || sum.Quota.Used["storage"] != 0 {
		t.Fatalf("empty project: %+v %+v", sum, sum.Quota)
	}
	if body := e.expect(200, owner, "GET", base+"/summary", nil); !strings.Contains(body, `"registry":null`) {
		t.Errorf("registry is not null: %s", body)
	}
	del := decode[projectDeletable](t, e.expect(200, owner, "GET", base+"/_deletable", nil))
	if !del.Deletable || del.Message != "" {
		t.Fatalf("deletable: %+v", del)
	}

	e.push("team/a", "v1")
	e.push("team/b/c")
	e.push("other/x", "v1")
	var size int64
	for _, repo := range []string{"a", "b%252Fc"} {
		for _, a := range decode[[]artifact](t, e.expect(200, owner, "GET", base+"/repositories/"+repo+"/artifacts", nil)) {
			size += a.Size
		}
	}
	sum = decode[projectSummary](t, e.expect(200, guest, "GET", base+"/summary", nil))
	if sum.RepoCount != 2 || sum.Quota == nil || sum.Quota.Used["storage"] != size || sum.ProjectAdminCount != 2 {
		t.Fatalf("as a guest: %+v %+v, want used %d", sum, sum.Quota, size)
	}
	// Limited guests see the quota but not the members; anonymous
	// visitors and non-members of the public project neither.
	sum = decode[projectSummary](t, e.expect(200, limited, "GET", base+"/summary", nil))
	if sum.Quota == nil || sum.ProjectAdminCount != 0 || sum.RepoCount != 2 {
		t.Fatalf("as a limited guest: %+v", sum)
	}
	for _, c := range []cred{{}, stranger} {
		sum = decode[projectSummary](t, e.expect(200, c, "GET", base+"/summary", nil))
		if sum.Quota != nil || sum.ProjectAdminCount != 0 || sum.RepoCount != 2 {
			t.Fatalf("as %q: %+v", c.user, sum)
		}
	}
	e.expect(404, stranger, "GET", Prefix+"/projects/other/summary", nil)
	e.expect(404, owner, "GET", Prefix+"/projects/nope/summary", nil)

	// Deletable: not while it has repositories, as DELETE answers 412;
	// for those who may delete it.
	del = decode[projectDeletable](t, e.expect(200, owner, "GET", base+"/_deletable", nil))
	if del.Deletable || del.Message != errNotDeletable {
		t.Fatalf("with repositories: %+v", del)
	}
	e.errorNames(412, owner, "DELETE", base, nil, del.Message)
	e.expect(403, dev, "GET", base+"/_deletable", nil)
	e.expect(401, cred{}, "GET", base+"/_deletable", nil)
	e.expect(404, stranger, "GET", Prefix+"/projects/other/_deletable", nil)
}

func TestListArtifactsOfProject(t *testing.T) {
	e := newEnv(t)
	dev, stranger := e.user("dev", false), e.user("stranger", false)
	e.project("team", true, map[cred]int{dev: int(rbac.RoleDeveloper)})
	e.project("teams", false, nil)
	e.project("hidden", false, nil)
	da := e.push("team/a", "v1", "latest")
	db := e.push("team/b/c", "b1")
	dn := e.push("team/a")
	e.push("teams/x", "v1")
	base := Prefix + "/projects/team/artifacts"

	resp, body := e.req(dev, "GET", base, nil)
	arts := decode[[]artifact](t, body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "3" || len(arts) != 3 {
		t.Fatalf("list: %d %s %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), body)
	}
	byDigest := map[string]artifact{}
	for _, a := range arts {
		byDigest[a.Digest] = a
	}
	if a := byDigest[string(da)]; a.RepositoryName != "team/a" || len(a.Tags) != 2 || a.Tags[0].Name != "latest" {
		t.Errorf("team/a@v1: %+v", a)
	}
	repoID := decode[repository](t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories/b%252Fc", nil)).ID
	if a := byDigest[string(db)]; a.RepositoryName != "team/b/c" || len(a.Tags) != 1 || a.RepositoryID != repoID || repoID == 0 {
		t.Errorf("team/b/c: %+v", a)
	}
	if a := byDigest[string(dn)]; a.Tags == nil || len(a.Tags) != 0 {
		t.Errorf("untagged: %+v", a)
	}
	if arts[0].Digest != string(dn) { // newest first
		t.Errorf("order: %+v", arts)
	}
	// The same JSON as a repository's artifact list, repository_name included.
	one := decode[[]artifact](t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories/b%252Fc/artifacts", nil))
	if fmt.Sprintf("%+v", one[0]) != fmt.Sprintf("%+v", byDigest[string(db)]) {
		t.Errorf("differs from the repository's list:\n%+v\n%+v", one[0], byDigest[string(db)])
	}

	// q, sort, paging, with_tag, latest_in_repository.
	arts = decode[[]artifact](t, e.expect(200, dev, "GET", base+"?q=repository_name%3Dteam%2Fa&sort=push_time", nil))
	if len(arts) != 2 || arts[0].Digest != string(da) {
		t.Errorf("repository_name=team/a by push_time: %+v", arts)
	}
	arts = decode[[]artifact](t, e.expect(200, dev, "GET", base+"?q=tags%3D*&sort=-repository_name", nil))
	if len(arts) != 2 || arts[0].RepositoryName != "team/b/c" {
		t.Errorf("tagged by -repository_name: %+v", arts)
	}
	resp, body = e.req(dev, "GET", base+"?page=2&page_size=2", nil)
	if arts = decode[[]artifact](t, body); len(arts) != 1 || !strings.Contains(resp.Header.Get("Link"), `rel="prev"`) {
		t.Errorf("page 2: %s %s", resp.Header.Get("Link"), body)
	}
	if body := e.expect(200, dev, "GET", base+"?with_tag=false", nil); strings.Count(body, `"tags":null`) != 3 {
		t.Errorf("with_tag=false: %s", body)
	}
	arts = decode[[]artifact](t, e.expect(200, dev, "GET", base+"?latest_in_repository=true&q=media_type%3Dapplication%2Fvnd.oci.image.manifest.v1%2Bjson", nil))
	if len(arts) != 2 || arts[0].Digest != string(dn) || arts[1].Digest != string(db) {
		t.Errorf("latest in repository: %+v", arts)
	}
	e.errorNames(400, dev, "GET", base+"?latest_in_repository=true", nil, "media_type")
	e.errorNames(400, dev, "GET", base+"?q=colour%3Dred", nil, "colour")
	e.errorNames(400, dev, "GET", base+"?sort=tags", nil, "tags")
	e.errorNames(400, dev, "GET", base+"?with_tag=maybe", nil, "with_tag")

	// Harbor's other with_* flags are accepted.
	e.expect(200, dev, "GET", base+"?with_label=true&with_scan_overview=true&with_accessory=false", nil)
	e.expect(401, cred{}, "GET", base, nil) // authentication required, even in a public project
	e.expect(200, stranger, "GET", base, nil)
	e.expect(404, stranger, "GET", Prefix+"/projects/hidden/artifacts", nil)
	id := decode[project](t, e.expect(200, dev, "GET", Prefix+"/projects/team", nil)).ProjectID
	e.expect(200, dev, "GET", fmt.Sprintf("%s/projects/%d/artifacts", Prefix, id), nil)
}
