package ui_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/proxy"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/settings"
)

// withReplication gives the API registries and the replication engine, as
// the application wires them (the queue's workers are not run: an
// execution started from the page stays in progress).
func withReplication(o *api.Options, store *sqlstore.Store, sealer *settings.Sealer, log *slog.Logger) {
	q := jobs.NewQueue(store, "ui", log)
	regs := replication.New(store, sealer, log)
	engine := &replication.Engine{Registries: regs, Store: store, Jobs: q, Log: log,
		Local: &replication.Local{Handler: http.NotFoundHandler(), Catalog: store}}
	engine.Register(q)
	o.Jobs, o.Registries, o.Replication = q, regs, engine
	o.Proxy = proxy.New(proxy.Options{Meta: store, Registries: upstreams{regs}, Logger: log})
}

// upstreams gives the proxy the registries' endpoints (the application's
// adapter also passes credentials and transports).
type upstreams struct{ regs *replication.Registries }

func (u upstreams) Upstream(ctx context.Context, id int64) (*proxy.Upstream, error) {
	r, err := u.regs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &proxy.Upstream{URL: r.URL}, nil
}

// TestRegistriesAndReplicationPages: an administrator adds a registry
// (a local OCI endpoint), tests it, creates a push policy, starts it and
// sees the execution, then deletes both; other users are refused.
func TestRegistriesAndReplicationPages(t *testing.T) {
	e := newEnv(t, withReplication)
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.Write([]byte("{}"))
	}))
	defer peer.Close()
	a := e.browser("admin")
	a.submit("/admin/registries", "/admin/registries", url.Values{"name": {"dr-site"}, "type": {"docker-registry"},
		"url": {peer.URL}, "access_key": {"robot"}, "access_secret": {"s3cret-value"}})
	_, body := a.get("/admin/registries")
	if !strings.Contains(body, "Registry created.") || !strings.Contains(body, "<td>dr-site</td>") || strings.Contains(body, "s3cret-value") {
		t.Fatalf("registries page: %s", body)
	}
	regs, _, err := e.store.ListRegistries(e.ctx, metaAll())
	if err != nil || len(regs) != 1 {
		t.Fatalf("registries %v, %v", regs, err)
	}
	id := idString(regs[0].ID)
	a.submit("/admin/registries", "/admin/registries/"+id, url.Values{"action": {"ping"}})
	if _, body := a.get("/admin/registries"); !strings.Contains(body, "The registry answers.") {
		t.Fatalf("ping: %s", body)
	}
	// A proxy-cache project of that registry, from the projects page.
	if _, body := a.get("/projects"); !strings.Contains(body, `id="new-proxy"`) || !strings.Contains(body, "dr-site") {
		t.Fatalf("projects page without the proxy-cache choice: %s", body)
	}
	a.submit("/projects", "/projects", url.Values{"name": {"hub"}, "registry_id": {id}})
	if p, err := e.store.GetProjectByName(e.ctx, "hub"); err != nil {
		t.Fatalf("proxy-cache project: %v", err)
	} else if set, err := e.store.ProjectSettings(e.ctx, p.ID); err != nil || set[p.ID].Metadata[meta.ProxyRegistryKey] != id {
		t.Fatalf("proxy-cache project metadata %v, %v", set[p.ID], err)
	}
	a.submit("/admin/replication", "/admin/replication", url.Values{"name": {"to-dr"}, "mode": {"push"}, "registry": {id},
		"name_filter": {"prod/**"}, "tag_filter": {"v*"}, "trigger": {"manual"}, "override": {"on"}})
	_, body = a.get("/admin/replication")
	if !strings.Contains(body, "Replication policy created.") || !strings.Contains(body, "<td>to-dr</td>") {
		t.Fatalf("replication page: %s", body)
	}
	policies, _, err := e.store.ListReplicationPolicies(e.ctx, metaAll())
	if err != nil || len(policies) != 1 {
		t.Fatalf("policies %v, %v", policies, err)
	}
	pid := idString(policies[0].ID)
	resp, _ := a.submit("/admin/replication", "/admin/replication/"+pid, url.Values{"action": {"run"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/admin/replication?policy="+pid+"#runs" {
		t.Fatalf("run: %d to %q", resp.StatusCode, loc)
	}
	if _, body := a.get("/admin/replication?policy=" + pid); !strings.Contains(body, `id="runs"`) || strings.Contains(body, "No executions yet.") {
		t.Fatalf("executions not shown: %s", body)
	}
	e.user("bob", false)
	for _, p := range []string{"/admin/registries", "/admin/replication"} {
		if resp, _ := e.browser("bob").get(p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s as a user: %d, want 403", p, resp.StatusCode)
		}
	}
	// A policy with a running execution cannot go (Harbor's rule): stop it.
	a.submit("/admin/replication", "/admin/replication/"+pid, url.Values{"action": {"delete"}})
	if _, body := a.get("/admin/replication"); !strings.Contains(body, "<td>to-dr</td>") {
		t.Fatal("a policy with a running execution was deleted")
	}
	_, body = a.get("/admin/replication?policy=" + pid)
	i := strings.Index(body, `id="stop-`)
	if i < 0 {
		t.Fatalf("no stop button: %s", body)
	}
	exec := strings.SplitN(body[i+len(`id="stop-`):], `"`, 2)[0]
	a.submit("/admin/replication", "/admin/replication/"+pid, url.Values{"action": {"stop"}, "execution": {exec}})
	a.submit("/admin/replication", "/admin/replication/"+pid, url.Values{"action": {"delete"}})
	if _, body := a.get("/admin/replication"); !strings.Contains(body, "No replication policies.") {
		t.Fatalf("policy not deleted: %s", body)
	}
	// A registry a proxy-cache project pulls from stays (Harbor's 412).
	a.submit("/admin/registries", "/admin/registries/"+id, url.Values{"action": {"delete"}})
	if _, body := a.get("/admin/registries"); !strings.Contains(body, "<td>dr-site</td>") {
		t.Fatal("a registry used by a proxy-cache project was deleted")
	}
	a.submit("/projects/hub", "/projects/hub/delete", url.Values{"confirm": {"on"}})
	a.submit("/admin/registries", "/admin/registries/"+id, url.Values{"action": {"delete"}})
	if _, body := a.get("/admin/registries"); !strings.Contains(body, "No registries.") {
		t.Fatalf("registry not deleted: %s", body)
	}
}

func metaAll() meta.ListQuery { return meta.ListQuery{Page: meta.Page{Page: 1, Size: 100}} }
