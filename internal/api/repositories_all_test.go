package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/pullstats"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/registry"
)

func repoNames(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, r := range decode[[]repository](t, body) {
		out = append(out, r.Name)
	}
	return out
}

func TestListAllRepositories(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user("alice", false), e.user("bob", false)
	pub := e.project("pub", true, nil)
	priv := e.project("priv", false, map[cred]int{alice: int(rbac.RoleLimitedGuest)})
	e.project("other", false, nil)
	for _, r := range []string{"pub/a", "pub/b/c", "priv/x", "other/y"} {
		e.push(r, "v1")
	}
	all := Prefix + "/repositories?page_size=100"
	for c, want := range map[cred]string{
		e.admin: "other/y priv/x pub/a pub/b/c",
		alice:   "priv/x pub/a pub/b/c",
		bob:     "pub/a pub/b/c",
		{}:      "pub/a pub/b/c",
	} {
		if got := strings.Join(repoNames(t, e.expect(200, c, "GET", all, nil)), " "); got != want {
			t.Errorf("%q sees %q, want %q", c.user, got, want)
		}
	}
	// A robot: the public projects and those it may list repositories in.
	rb := decode[robotCreated](t, e.expect(201, e.admin, "POST", Prefix+"/robots", map[string]any{"name": "lister", "level": "system", "duration": -1,
		"permissions": []map[string]any{
			{"kind": "project", "namespace": "priv", "access": []map[string]string{{"resource": "repository", "action": "list"}}},
			{"kind": "project", "namespace": "other", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}))
	if got := strings.Join(repoNames(t, e.expect(200, cred{rb.Name, rb.Secret}, "GET", all, nil)), " "); got != "priv/x pub/a pub/b/c" {
		t.Errorf("the robot sees %q", got)
	}

	resp, body := e.req(alice, "GET", Prefix+"/repositories?page=2&page_size=2&sort=name", nil)
	list := decode[[]repository](t, body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "3" || len(list) != 1 || list[0].Name != "pub/b/c" ||
		list[0].ProjectID != pub.ID || list[0].ID == 0 || list[0].ArtifactCount != 1 || !strings.Contains(resp.Header.Get("Link"), `rel="prev"`) {
		t.Fatalf("page 2: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if got := repoNames(t, e.expect(200, alice, "GET", Prefix+"/repositories?q="+url.QueryEscape("name=~X"), nil)); len(got) != 1 || got[0] != "priv/x" {
		t.Errorf("q=name=~X: %v", got)
	}
	byProject := repoNames(t, e.expect(200, e.admin, "GET", Prefix+"/repositories?q="+url.QueryEscape(fmt.Sprintf("project_id=%d", priv.ID)), nil))
	if len(byProject) != 1 || byProject[0] != "priv/x" {
		t.Errorf("q=project_id: %v", byProject)
	}
	e.expect(400, alice, "GET", Prefix+"/repositories?q=tags%3Dx", nil)
	e.expect(400, alice, "GET", Prefix+"/repositories?sort=nope", nil)

	// The same repository, listed or read: the same id.
	one := decode[repository](t, e.expect(200, alice, "GET", Prefix+"/projects/priv/repositories/x", nil))
	if one.ID != decode[[]repository](t, e.expect(200, alice, "GET", Prefix+"/repositories?q=name%3Dpriv/x", nil))[0].ID || one.ProjectID != priv.ID {
		t.Errorf("ids differ: %+v", one)
	}
	arts := decode[[]artifact](t, e.expect(200, alice, "GET", Prefix+"/projects/priv/repositories/x/artifacts", nil))
	if len(arts) != 1 || arts[0].RepositoryID != one.ID || arts[0].Tags[0].RepositoryID != one.ID {
		t.Errorf("artifacts' repository id: %+v, want %d", arts, one.ID)
	}
}

func TestUpdateRepository(t *testing.T) {
	e := newEnv(t)
	dev, guest, outsider := e.user("dev", false), e.user("guest", false), e.user("outsider", false)
	e.project("team", false, map[cred]int{dev: int(rbac.RoleDeveloper), guest: int(rbac.RoleGuest)})
	e.push("team/svc/api", "v1")
	repoURL := Prefix + "/projects/team/repositories/svc%252Fapi"
	before := decode[repository](t, e.expect(200, guest, "GET", repoURL, nil))
	time.Sleep(5 * time.Millisecond)

	// harbor-cli sends the repository back as it read it, with the new
	// description; only the description is written.
	upd := before
	upd.Description, upd.Name, upd.PullCount, upd.ID = "The API\n<b>service</b>", "team/renamed", 99, 12345
	e.expect(200, dev, "PUT", repoURL, upd)
	after := decode[repository](t, e.expect(200, guest, "GET", repoURL, nil))
	if after.Description != "The API\n<b>service</b>" || after.Name != "team/svc/api" || after.ID != before.ID || after.PullCount != 0 ||
		!time.Time(after.UpdateTime).After(time.Time(before.UpdateTime)) {
		t.Errorf("after update: %+v (before %+v)", after, before)
	}
	if list := decode[[]repository](t, e.expect(200, guest, "GET", Prefix+"/projects/team/repositories", nil)); list[0].Description != after.Description {
		t.Errorf("listed: %+v", list)
	}
	e.expect(403, guest, "PUT", repoURL, map[string]string{"description": "x"})
	e.expect(404, outsider, "PUT", repoURL, map[string]string{"description": "x"})
	e.expect(404, cred{}, "PUT", repoURL, map[string]string{"description": "x"}) // private: as if missing
	e.expect(404, dev, "PUT", Prefix+"/projects/team/repositories/nope", map[string]string{"description": "x"})
	e.expect(400, dev, "PUT", repoURL, map[string]string{"description": strings.Repeat("d", maxRepoDescription+1)})
	e.expect(400, dev, "PUT", repoURL, "not an object")
	e.expect(200, dev, "PUT", repoURL, map[string]string{}) // Harbor's PUT: no description clears it
	if got := decode[repository](t, e.expect(200, guest, "GET", repoURL, nil)); got.Description != "" {
		t.Errorf("description not cleared: %+v", got)
	}
	logs := e.expect(200, dev, "GET", Prefix+"/projects/team/logs?q="+url.QueryEscape("operation=update,resource_type=repository"), nil)
	if got := decode[[]auditLog](t, logs); len(got) != 2 || got[0].Resource != "team/svc/api" {
		t.Errorf("audit: %s", logs)
	}
}

// TestPullStatistics pulls through a registry handler over the env's store
// and reads the counts and times back through the API.
func TestPullStatistics(t *testing.T) {
	e := newEnv(t)
	dev := e.user("dev", false)
	e.project("team", false, map[cred]int{dev: int(rbac.RoleDeveloper)})
	d := e.push("team/app", "v1", "latest")
	e.push("team/web", "v1")
	blobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := pullstats.New(e.store, pullstats.Options{FlushEvery: time.Hour})
	defer rec.Close()
	reg := registry.New(e.store, blobs, registry.Options{Pulls: rec})
	pull := func(ctx context.Context, method, path string) {
		t.Helper()
		w := httptest.NewRecorder()
		reg.ServeHTTP(w, httptest.NewRequestWithContext(ctx, method, path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
	}
	ctx := context.Background()
	start := time.Now().Add(-time.Second)
	pull(ctx, "GET", "/v2/team/app/manifests/v1")
	pull(ctx, "GET", "/v2/team/app/manifests/"+string(d))
	pull(ctx, "GET", "/v2/team/web/manifests/v1")
	pull(ctx, "HEAD", "/v2/team/app/manifests/latest")                     // a HEAD is no pull
	pull(pullstats.Uncounted(ctx), "GET", "/v2/team/app/manifests/latest") // nor is berth's own
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	app := decode[repository](t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories/app", nil))
	if app.PullCount != 2 {
		t.Errorf("team/app pull_count %d, want 2", app.PullCount)
	}
	list := repoNames(t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories?sort=-pull_count,name", nil))
	if strings.Join(list, " ") != "team/app team/web" {
		t.Errorf("sort=-pull_count: %v", list)
	}
	if got := repoNames(t, e.expect(200, e.admin, "GET", Prefix+"/repositories?q="+url.QueryEscape("pull_count=[2~]"), nil)); len(got) != 1 {
		t.Errorf("q=pull_count=[2~]: %v", got)
	}
	art := decode[artifact](t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories/app/artifacts/v1", nil))
	if pulled := time.Time(art.PullTime); pulled.Before(start) || pulled.After(time.Now()) {
		t.Errorf("artifact pull_time %v", pulled)
	}
	for _, tg := range art.Tags {
		pulled := time.Time(tg.PullTime)
		if tg.Name == "v1" && (pulled.Before(start) || pulled.After(time.Now())) || tg.Name == "latest" && !pulled.IsZero() {
			t.Errorf("tag %s pull_time %v", tg.Name, pulled)
		}
	}
	if body := e.expect(200, dev, "GET", Prefix+"/projects/team/repositories/app/artifacts/latest", nil); !strings.Contains(body, `"name":"latest","push_time":`) ||
		!strings.Contains(body, `"pull_time":"0001-01-01T00:00:00.000Z"`) {
		t.Errorf("never pulled by latest: %s", body)
	}
	since := url.QueryEscape("pull_time=[" + start.UTC().Format("2006-01-02 15:04:05") + "~]")
	if arts := decode[[]artifact](t, e.expect(200, dev, "GET", Prefix+"/projects/team/repositories/app/artifacts?q="+since, nil)); len(arts) != 1 {
		t.Errorf("q=pull_time: %+v", arts)
	}
}
