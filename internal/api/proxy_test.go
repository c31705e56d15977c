package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/proxy"
)

// oneRegistry knows registry 1 only.
type oneRegistry struct{}

func (oneRegistry) Upstream(_ context.Context, id int64) (*proxy.Upstream, error) {
	if id != 1 {
		return nil, meta.ErrNotFound
	}
	return &proxy.Upstream{URL: "http://127.0.0.1:1"}, nil
}

// TestProxyProject: a system administrator creates a proxy-cache project
// of an existing registry; it shows registry_id, keeps its filter, gets
// Harbor's default 7-day nDaysSinceLastPull retention policy, and /v2 (the
// engine) sees it at once, and sees it go.
func TestProxyProject(t *testing.T) {
	e, _ := retentionEnv(t, false)
	blobs, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eng := proxy.New(proxy.Options{Meta: e.store, Blobs: blobs, Registries: oneRegistry{}})
	e.api.opt.Proxy = eng
	alice := e.user("alice", false)

	e.errorNames(403, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "hub", "registry_id": 1}, "system admin")
	e.errorNames(400, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "hub", "registry_id": 2}, "registry 2")
	e.errorNames(400, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "hub", "registry_id": 1,
		"metadata": map[string]string{"proxy_cache_filter_kind": "regex"}}, "proxy_cache_filter_kind")
	e.errorNames(400, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "plain",
		"metadata": map[string]string{"registry_id": "1"}}, "registry_id")
	e.expect(201, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "hub", "registry_id": 1,
		"metadata": map[string]string{"public": "true", "proxy_cache_filter_pattern": "library/**", "proxy_speed_kb": "100",
			"max_upstream_conn": "5", "enable_content_trust": "true"}})
	if !eng.Proxied("hub/library/nginx") || eng.Proxied("plain/x") {
		t.Fatal("the engine does not see the new proxy-cache project")
	}
	var got project
	if err := json.Unmarshal([]byte(e.expect(200, e.admin, "GET", Prefix+"/projects/hub", nil)), &got); err != nil {
		t.Fatal(err)
	}
	if got.RegistryID == nil || *got.RegistryID != 1 {
		t.Fatalf("registry_id = %v, want 1", got.RegistryID)
	}
	md := got.Metadata
	if _, ok := md[meta.ProxyRegistryKey]; ok || md["proxy_cache_filter_pattern"] != "library/**" || md["proxy_speed_kb"] != "100" ||
		md["enable_content_trust"] != "" || md["retention_id"] == "" {
		t.Fatalf("metadata = %v", md)
	}
	var pol struct {
		Rules []struct {
			Template string         `json:"template"`
			Params   map[string]int `json:"params"`
		} `json:"rules"`
		Trigger struct {
			Settings map[string]string `json:"settings"`
		} `json:"trigger"`
	}
	if err := json.Unmarshal([]byte(e.expect(200, e.admin, "GET", Prefix+"/retentions/"+md["retention_id"], nil)), &pol); err != nil {
		t.Fatal(err)
	}
	if len(pol.Rules) != 1 || pol.Rules[0].Template != "nDaysSinceLastPull" || pol.Rules[0].Params["nDaysSinceLastPull"] != 7 ||
		pol.Trigger.Settings["cron"] == "" {
		t.Fatalf("default retention policy = %+v", pol)
	}
	e.errorNames(400, e.admin, "PUT", Prefix+"/projects/hub", map[string]any{"registry_id": 1}, "registry_id")
	e.expect(200, e.admin, "PUT", Prefix+"/projects/hub", map[string]any{"metadata": map[string]string{"proxy_cache_filter_pattern": "bitnami/*"}})
	if err := json.Unmarshal([]byte(e.expect(200, e.admin, "GET", Prefix+"/projects/hub", nil)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata["proxy_cache_filter_pattern"] != "bitnami/*" || got.RegistryID == nil {
		t.Fatalf("after the filter's update: %+v", got)
	}
	e.errorNames(400, e.admin, "PUT", Prefix+"/projects/hub", map[string]any{"metadata": map[string]string{"proxy_cache_filter_pattern": "[bad"}}, "proxy_cache_filter_pattern")
	e.expect(http.StatusOK, e.admin, "DELETE", Prefix+"/projects/"+strconv.FormatInt(got.ProjectID, 10), nil)
	if eng.Proxied("hub/library/nginx") {
		t.Fatal("the engine still sees the deleted proxy-cache project")
	}
}
