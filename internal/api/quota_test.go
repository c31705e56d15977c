package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

func quotaPath(id int64) string { return fmt.Sprintf("%s/quotas/%d", Prefix, id) }

func TestQuotas(t *testing.T) {
	e := newSystemEnv(t)
	dev := e.user("dev", false)
	a := e.project("alpha", false, map[cred]int{dev: int(rbac.RoleProjectAdmin)})
	b := e.project("beta", true, nil)
	e.push("alpha/app", "v1")
	e.push("alpha/other", "v1")
	used, err := e.store.ProjectStorageUsed(e.ctx, "alpha")
	if err != nil || used == 0 {
		t.Fatalf("alpha uses %d, %v", used, err)
	}

	q := decode[quotaJSON](t, e.expect(200, e.admin, "GET", quotaPath(a.ID), nil))
	if q.ID != a.ID || q.Ref != (quotaRef{ID: a.ID, Name: "alpha", OwnerName: "admin"}) || q.Hard["storage"] != -1 ||
		q.Used["storage"] != used || len(q.Hard) != 1 || len(q.Used) != 1 {
		t.Fatalf("quota: %+v", q)
	}
	// System administrators only, as in Harbor: a project admin reads
	// the quota in the summary.
	e.expect(403, dev, "GET", quotaPath(a.ID), nil)
	e.expect(403, dev, "GET", Prefix+"/quotas", nil)
	e.expect(403, dev, "PUT", quotaPath(a.ID), map[string]any{"hard": map[string]int64{"storage": 1 << 30}})
	e.expect(401, cred{}, "GET", Prefix+"/quotas", nil)
	sum := decode[projectSummary](t, e.expect(200, dev, "GET", Prefix+"/projects/alpha/summary", nil))
	if sum.Quota == nil || sum.Quota.Used["storage"] != used || sum.Quota.Hard["storage"] != -1 {
		t.Fatalf("summary quota: %+v", sum.Quota)
	}
	e.expect(404, e.admin, "GET", quotaPath(9999), nil)
	e.expect(400, e.admin, "GET", Prefix+"/quotas/x", nil)

	// Update: the limit, Harbor's bounds, storage only.
	e.expect(200, e.admin, "PUT", quotaPath(a.ID), map[string]any{"hard": map[string]int64{"storage": 10 << 30}})
	q = decode[quotaJSON](t, e.expect(200, e.admin, "GET", quotaPath(a.ID), nil))
	if q.Hard["storage"] != 10<<30 || q.Used["storage"] != used {
		t.Fatalf("after update: %+v", q)
	}
	for _, body := range []any{
		map[string]any{},
		map[string]any{"hard": map[string]int64{}},
		map[string]any{"hard": map[string]int64{"storage": 0}},
		map[string]any{"hard": map[string]int64{"storage": -2}},
		map[string]any{"hard": map[string]int64{"storage": 1<<50 + 1}},
		map[string]any{"hard": map[string]int64{"storage": 5, "count": 3}},
		map[string]any{"hard": map[string]any{"storage": "10G"}},
	} {
		e.expect(400, e.admin, "PUT", quotaPath(a.ID), body)
	}
	e.expect(404, e.admin, "PUT", quotaPath(9999), map[string]any{"hard": map[string]int64{"storage": 5}})
	// Below the usage is allowed (pushes are refused, not the limit).
	e.expect(200, e.admin, "PUT", quotaPath(b.ID), map[string]any{"hard": map[string]int64{"storage": 1}})
	recs, _, err := e.store.ListAudit(e.ctx, meta.AuditQuery{ProjectID: a.ID, ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 100}}})
	if err != nil || len(recs) == 0 || recs[0].Operation != "update" || recs[0].ResourceType != "quota" ||
		recs[0].Resource != "alpha: storage 10.0 GiB" || recs[0].Username != "admin" {
		t.Fatalf("audit: %+v, %v", recs, err)
	}

	// The list: every project's quota, filters and sorts.
	list := func(query string) []string {
		t.Helper()
		var names []string
		for _, q := range decode[[]quotaJSON](t, e.expect(200, e.admin, "GET", Prefix+"/quotas"+query, nil)) {
			names = append(names, q.Ref.Name)
		}
		return names
	}
	for query, want := range map[string]string{
		"":                    "beta alpha",
		"?sort=hard.storage":  "beta alpha",
		"?sort=-used.storage": "alpha beta",
		"?reference=project&reference_id=" + fmt.Sprint(b.ID): "beta",
		"?reference=artifact": "",
		"?reference_id=alpha": "",
		"?page=2&page_size=1": "alpha",
	} {
		if got := strings.Join(list(query), " "); got != want {
			t.Errorf("GET /quotas%s: %q, want %q", query, got, want)
		}
	}
	resp, _ := e.req(e.admin, "GET", Prefix+"/quotas?page_size=1", nil)
	if resp.Header.Get("X-Total-Count") != "2" || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Fatalf("paging headers: %v", resp.Header)
	}
	e.expect(400, e.admin, "GET", Prefix+"/quotas?sort=name", nil)
	e.expect(400, e.admin, "GET", Prefix+"/quotas?page_size=101", nil)
}

// TestProjectDefaultStorageLimit: storage_per_project is the limit of a
// project created without one, and editable.
func TestProjectDefaultStorageLimit(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"storage_per_project": 1 << 30})
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"storage_per_project": 0})
	limitOf := func(name string) int64 {
		t.Helper()
		sum := decode[projectSummary](t, e.expect(200, e.admin, "GET", Prefix+"/projects/"+name+"/summary", nil))
		return sum.Quota.Hard["storage"]
	}
	for name, body := range map[string]map[string]any{
		"none":      {},
		"zero":      {"storage_limit": 0},
		"minus-one": {"storage_limit": -1}, // what harbor-cli sends when given none
		"default":   {"storage_limit": 1 << 30},
	} {
		body["project_name"] = name
		e.expect(201, alice, "POST", Prefix+"/projects", body)
		if l := limitOf(name); l != 1<<30 {
			t.Errorf("%s: limit %d, want the default", name, l)
		}
	}
	e.errorNames(403, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "more", "storage_limit": 2 << 30}, "storage_limit")
	// An administrator sets what they like, unlimited included.
	e.expect(201, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "open", "storage_limit": -1})
	e.expect(201, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "big", "storage_limit": 2 << 30})
	if limitOf("open") != -1 || limitOf("big") != 2<<30 {
		t.Fatalf("admin's limits: %d %d", limitOf("open"), limitOf("big"))
	}
	cfg := decode[map[string]configItem](t, e.expect(200, e.admin, "GET", Prefix+"/configurations", nil))
	if cfg["storage_per_project"] != (configItem{float64(1 << 30), true}) || cfg["quota_per_project_enable"] != (configItem{true, false}) {
		t.Fatalf("configurations: %+v %+v", cfg["storage_per_project"], cfg["quota_per_project_enable"])
	}
}

// TestCopyArtifactQuota: a copy past the destination's limit is Harbor's
// 403 DENIED, and copies nothing.
func TestCopyArtifactQuota(t *testing.T) {
	e := newEnv(t)
	withBlobs(e)
	e.project("src", false, nil)
	dst := e.project("dst", false, nil)
	e.push("src/app", "v1")
	if err := e.store.SetStorageLimit(e.ctx, dst.ID, 10); err != nil {
		t.Fatal(err)
	}
	resp, body := e.req(e.admin, "POST", artifactsPath("dst", "app")+"?from="+url.QueryEscape("src/app:v1"), nil)
	errs := decode[harborErrors](t, body)
	if resp.StatusCode != 403 || len(errs.Errors) != 1 || errs.Errors[0].Code != "DENIED" ||
		!strings.HasPrefix(errs.Errors[0].Message, "adding ") || !strings.HasSuffix(errs.Errors[0].Message, "will exceed the configured upper limit of 10 B.") {
		t.Fatalf("copy past the limit: %d %s", resp.StatusCode, body)
	}
	e.expect(404, e.admin, "GET", Prefix+"/projects/dst/repositories/app", nil)
	if n, _ := e.store.ProjectStorageUsed(e.ctx, "dst"); n != 0 {
		t.Fatalf("dst uses %d", n)
	}
}
