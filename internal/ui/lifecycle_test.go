package ui_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/retention"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/ui"
)

// jobsEnvRun is newEnv with a job queue (retention, audit purge and
// garbage collection registered), as the application wires it, running
// its jobs when run is true (else runs stay Pending).
func jobsEnvRun(t *testing.T, run bool) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	store, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	blobs, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := jobs.NewQueue(store, "ui-test", discard)
	q.TTL, q.Heartbeat, q.Poll, q.Grace = 2*time.Second, 50*time.Millisecond, 20*time.Millisecond, time.Second
	q.Register(audit.PurgeKind, audit.Purge(store), jobs.Exclusive())
	(&retention.Runner{Store: store, Log: discard}).Register(q)
	q.Register(gc.Kind, (&gc.Collector{Meta: store, Blobs: blobs}).Handler(), jobs.Exclusive())
	if run {
		qctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { q.Run(qctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}

	authn := &auth.Authenticator{Store: store, Limiter: auth.NewLimiter(auth.DefaultLimiterConfig)}
	st := settings.New(store, discard)
	if err := st.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Options{Access: store, Store: store, Catalog: store, Auth: authn, Version: "test", Jobs: q,
		System: api.SystemOptions{Settings: st}, SessionKey: bytes.Repeat([]byte("k"), 32),
		Audit: func(rec meta.AuditRecord) {
			rec.At = time.Now()
			_ = store.AppendAudit(ctx, []meta.AuditRecord{rec})
		}})
	u := ui.New(ui.Options{API: h, Version: "test"})
	mux := http.NewServeMux()
	mux.Handle(api.Prefix+"/", h)
	mux.Handle("/c/", h)
	mux.Handle("/", u)
	e := &env{t: t, ctx: ctx, store: store, ui: u, path: path}
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.user("admin", true)
	return e
}

// lifecycleEnv: a private project "secret" with a developer, a
// maintainer and a guest, and an outsider; secret/app holds v1, v2, v3.
func lifecycleEnv(t *testing.T) *env { return lifecycleEnvRun(t, true) }

func lifecycleEnvRun(t *testing.T, run bool) *env {
	e := jobsEnvRun(t, run)
	for _, u := range []string{"dev", "maint", "guest", "outsider"} {
		e.user(u, false)
	}
	e.project("secret", false, map[string]int{"dev": 2, "maint": 4, "guest": 3})
	for _, tag := range []string{"v1", "v2", "v3"} {
		e.push("secret/app", nil, tag)
		time.Sleep(5 * time.Millisecond) // distinct push times
	}
	return e
}

// mainOf is the main element of a page, for failure messages.
func mainOf(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		return body[i:]
	}
	return body
}

func TestLifecyclePagePermissions(t *testing.T) {
	e := lifecycleEnv(t)
	names := []string{"anonymous", "outsider", "guest", "developer", "maintainer", "admin"}
	browsers := []*browser{e.browser(""), e.browser("outsider"), e.browser("guest"), e.browser("dev"), e.browser("maint"), e.browser("admin")}
	// A policy and a run, so that the run and task pages exist.
	a := browsers[5]
	a.submit("/projects/secret/policies", "/projects/secret/policies/rules", url.Values{"template": {"latestPushedK"}, "param": {"1"},
		"repo": {"**"}, "tag": {"**"}})
	resp, _ := a.submit("/projects/secret/policies", "/projects/secret/policies/run", url.Values{"dry_run": {"true"}})
	run := resp.Header.Get("Location")
	if !strings.HasPrefix(run, "/projects/secret/policies/runs/") {
		t.Fatalf("dry run: %d %s", resp.StatusCode, run)
	}
	cases := []struct {
		path string
		want [6]int
	}{
		{"/projects/secret/policies", [6]int{401, 404, 403, 200, 200, 200}},
		{run, [6]int{401, 404, 403, 200, 200, 200}},
		{"/admin/quotas", [6]int{401, 403, 403, 403, 403, 200}},
		{"/admin/purgeaudit", [6]int{401, 403, 403, 403, 403, 200}},
		{"/admin/gc", [6]int{401, 403, 403, 403, 403, 200}},
	}
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
	// The tab and the forms follow the permissions.
	for i, b := range browsers[2:] {
		_, project := b.get("/projects/secret")
		_, pol := b.get("/projects/secret/policies")
		tab := strings.Contains(project, `href="/projects/secret/policies"`)
		forms := strings.Contains(pol, `id="save-rule"`) && strings.Contains(pol, `id="dry-run"`) && strings.Contains(pol, `id="run-now"`)
		if want := i > 0; tab != want || forms != want {
			t.Errorf("%s: tab %v, forms %v, want %v", names[i+2], tab, forms, want)
		}
	}
	// The administration navigation lists the new pages.
	if _, body := a.get("/admin/users"); !strings.Contains(body, `href="/admin/quotas"`) || !strings.Contains(body, `href="/admin/purgeaudit"`) ||
		!strings.Contains(body, `href="/admin/gc"`) {
		t.Error("administration navigation misses the new pages")
	}
	// Forged forms are refused by the API: the guest's rule, the
	// developer's quota, purge and GC.
	g := browsers[2]
	g.submit("/projects/secret", "/projects/secret/policies/rules", url.Values{"template": {"always"}, "repo": {"**"}, "tag": {"x"}})
	g.submit("/projects/secret", "/projects/secret/policies/run", url.Values{"dry_run": {"false"}})
	d := browsers[3]
	p, _ := e.store.GetProjectByName(e.ctx, "secret")
	d.submit("/projects/secret", "/admin/quotas/"+idString(p.ID), url.Values{"storage_gib": {"1"}})
	d.submit("/projects/secret", "/admin/purgeaudit", url.Values{"action": {"run"}, "audit_retention_hour": {"0"}, "include_event_types": {"pull_artifact"}})
	d.submit("/projects/secret", "/admin/gc", url.Values{"action": {"run"}, "workers": {"1"}, "time_window": {"0"}})
	_, pol := a.get("/projects/secret/policies")
	if n := strings.Count(pol, `id="edit-rule-`); n != 1 {
		t.Errorf("%d rules after the guest's forged form", n)
	}
	if strings.Count(pol, `/policies/runs/`) != 1 {
		t.Error("the guest's forged run started")
	}
	if qs, _, err := e.store.Quotas(e.ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}); err != nil || len(qs) != 1 || qs[0].Limit == 1<<30 {
		t.Errorf("developer changed the quota: %+v %v", qs, err)
	}
	for _, path := range []string{"/admin/purgeaudit", "/admin/gc"} {
		if _, body := a.get(path); !strings.Contains(body, "No runs yet.") {
			t.Errorf("%s: the developer's forged run started", path)
		}
	}
}

// waitPage polls path until its body contains want.
func (b *browser) waitPage(path, want string) string {
	b.e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := b.get(path)
		if strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			b.e.t.Fatalf("%s: no %q in %s", path, want, mainOf(body))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var taskLinkRE = regexp.MustCompile(`href="(/projects/secret/policies/runs/\d+/tasks/\d+)"`)

// TestRetentionForms: a developer creates, edits and schedules rules, runs
// a dry run and reads what it would delete, then runs the policy.
func TestRetentionForms(t *testing.T) {
	e := lifecycleEnv(t)
	d := e.browser("dev")
	const pol = "/projects/secret/policies"
	if _, body := d.get(pol); !strings.Contains(body, "No retention rules") || strings.Contains(body, `id="dry-run"`) {
		t.Fatalf("empty policy page: %s", mainOf(body))
	}
	d.submit(pol, pol+"/rules", url.Values{"template": {"latestPushedK"}, "param": {"5"}, "repo_decoration": {"repoMatches"},
		"repo": {"app"}, "tag_decoration": {"matches"}, "tag": {"v*"}})
	_, body := d.get(pol)
	if !strings.Contains(body, "Rule created.") || !strings.Contains(body, "retain the most recently pushed 5 artifacts") ||
		!strings.Contains(body, "matching app") || !strings.Contains(body, "matching v*") {
		t.Fatalf("rule: %s", mainOf(body))
	}
	// Edit: the form is filled with the rule; saving replaces it.
	if _, body := d.get(pol + "?edit=0"); !strings.Contains(body, `name="index" value="0"`) || !strings.Contains(body, `id="retention-tag" name="tag" value="v*"`) {
		t.Fatalf("edit form: %s", mainOf(body))
	}
	d.submit(pol, pol+"/rules", url.Values{"index": {"0"}, "template": {"latestPushedK"}, "param": {"1"}, "repo": {"**"}, "tag": {"**"}})
	_, body = d.get(pol)
	if !strings.Contains(body, "Rule updated.") || !strings.Contains(body, "retain the most recently pushed 1 artifacts") || strings.Contains(body, "pushed 5") {
		t.Fatalf("edited rule: %s", mainOf(body))
	}
	// The API's refusals come back as messages.
	d.submit(pol, pol+"/schedule", url.Values{"cron": {"every day"}})
	if _, body := d.get(pol); !strings.Contains(body, "invalid cron") {
		t.Errorf("bad cron not refused: %s", mainOf(body))
	}
	d.submit(pol, pol+"/schedule", url.Values{"cron": {"0 0 3 * * *"}})
	if _, body := d.get(pol); !strings.Contains(body, "Schedule saved.") || !strings.Contains(body, "<code>0 0 3 * * *</code>") {
		t.Errorf("schedule: %s", mainOf(body))
	}
	// Dry run: two of three would go, nothing is deleted.
	resp, _ := d.submit(pol, pol+"/run", url.Values{"dry_run": {"true"}})
	run := resp.Header.Get("Location")
	body = d.waitPage(run, `id="run-status">Success<`)
	if !strings.Contains(body, `id="run-deleted">2<`) || !strings.Contains(body, "Storage that would be freed") {
		t.Fatalf("dry run page: %s", mainOf(body))
	}
	m := taskLinkRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no task link: %s", mainOf(body))
	}
	_, task := d.get(m[1])
	if !strings.Contains(task, "Artifacts that would be deleted") || !strings.Contains(task, `<span class="tag">v1</span>`) ||
		!strings.Contains(task, `<span class="tag">v2</span>`) || strings.Contains(task, `<span class="tag">v3</span>`) ||
		!strings.Contains(task, `id="task-log"`) || !strings.Contains(task, "v1") {
		t.Fatalf("task page: %s", mainOf(task))
	}
	for _, tag := range []string{"v1", "v2", "v3"} {
		if _, err := e.store.GetManifest(e.ctx, "secret/app", tag, false); err != nil {
			t.Fatalf("dry run deleted %s", tag)
		}
	}
	// The run is listed; run now deletes.
	if _, body := d.get(pol); !strings.Contains(body, `href="`+run+`"`) {
		t.Error("run not listed")
	}
	resp, _ = d.submit(pol, pol+"/run", url.Values{"dry_run": {"false"}})
	d.waitPage(resp.Header.Get("Location"), `id="run-status">Success<`)
	if _, err := e.store.GetManifest(e.ctx, "secret/app", "v1", false); err == nil {
		t.Error("run did not delete v1")
	}
	if _, err := e.store.GetManifest(e.ctx, "secret/app", "v3", false); err != nil {
		t.Error("run deleted v3")
	}
	// Delete the rule.
	d.submit(pol, pol+"/rules/0/delete", url.Values{})
	if _, body := d.get(pol); !strings.Contains(body, "Rule deleted.") || !strings.Contains(body, "No retention rules") {
		t.Errorf("rule not deleted: %s", mainOf(body))
	}
	// A disabled rule says so, and its edit form keeps it disabled.
	d.submit(pol, pol+"/rules", url.Values{"template": {"nDaysSinceLastPull"}, "param": {"30"}, "repo": {"**"}, "tag": {"**"},
		"untagged": {"on"}, "disabled": {"on"}})
	_, body = d.get(pol)
	if !strings.Contains(body, "retain the artifacts pulled within the last 30 days") || !strings.Contains(body, "(and untagged artifacts)") ||
		!regexp.MustCompile(`untagged artifacts\)</td>\s*<td>No</td>`).MatchString(body) {
		t.Errorf("disabled rule: %s", mainOf(body))
	}
	if _, body := d.get(pol + "?edit=0"); !strings.Contains(body, `name="disabled" checked`) || !strings.Contains(body, `name="untagged" checked`) {
		t.Errorf("disabled rule's edit form: %s", mainOf(body))
	}
	// Chinese.
	if _, body := d.get(pol, "Accept-Language", "zh-CN"); !strings.Contains(body, "Tag 保留") || !strings.Contains(body, "执行记录") {
		t.Error("policies page not translated")
	}
}

// TestQuotaAndJobPages: an administrator sets a project's limit, runs and
// schedules the audit purge and garbage collection, and reads their logs.
func TestQuotaAndJobPages(t *testing.T) {
	e := lifecycleEnv(t)
	a := e.browser("admin")
	p, _ := e.store.GetProjectByName(e.ctx, "secret")
	a.submit("/admin/quotas", "/admin/quotas/"+idString(p.ID), url.Values{"storage_gib": {"2"}})
	_, body := a.get("/admin/quotas")
	if !strings.Contains(body, "Quota updated.") || !strings.Contains(body, "2.0 GiB") || !strings.Contains(body, `value="2"`) {
		t.Fatalf("quota: %s", mainOf(body))
	}
	a.submit("/admin/quotas", "/admin/quotas/"+idString(p.ID), url.Values{"storage_gib": {"lots"}})
	if _, body := a.get("/admin/quotas"); !strings.Contains(body, "Storage limit must be a number of GiB.") {
		t.Error("bad limit not refused")
	}
	a.submit("/admin/quotas", "/admin/quotas/"+idString(p.ID), url.Values{"storage_gib": {""}})
	if _, body := a.get("/admin/quotas?sort=-hard.storage"); !strings.Contains(body, "no limit") {
		t.Error("limit not removed")
	}

	// Audit purge: schedule, then a dry run with its log.
	const purge = "/admin/purgeaudit"
	a.submit(purge, purge, url.Values{"action": {"schedule"}, "type": {"Daily"}, "audit_retention_hour": {"24"},
		"include_event_types": {"create_artifact,pull_artifact"}})
	_, body = a.get(purge)
	if !strings.Contains(body, "Schedule saved.") || !strings.Contains(body, "<code>Daily") || !strings.Contains(body, `value="24"`) {
		t.Fatalf("purge schedule: %s", mainOf(body))
	}
	a.submit(purge, purge, url.Values{"action": {"schedule"}, "type": {"Daily"}, "audit_retention_hour": {"24"}, "include_event_types": {"bogus"}})
	if _, body := a.get(purge); !strings.Contains(body, `class="flash"`) || !strings.Contains(body, "bogus") {
		t.Errorf("bad event type not refused: %s", mainOf(body))
	}
	resp, _ := a.submit(purge, purge, url.Values{"action": {"dry"}, "audit_retention_hour": {"0"}, "include_event_types": {"create_artifact"}})
	job := resp.Header.Get("Location")
	if !strings.HasPrefix(job, purge+"/") {
		t.Fatalf("purge run: %d %s", resp.StatusCode, job)
	}
	body = a.waitPage(job, `id="job-status">Success<`)
	if !strings.Contains(body, `id="job-log"`) || !strings.Contains(body, "dry_run: true") {
		t.Errorf("purge run page: %s", mainOf(body))
	}
	if _, body := a.get(purge); !strings.Contains(body, `href="`+job+`"`) {
		t.Error("purge run not in the history")
	}

	// Garbage collection: dry run, its log; schedule removed.
	resp, _ = a.submit("/admin/gc", "/admin/gc", url.Values{"action": {"dry"}, "workers": {"2"}, "time_window": {"0"}, "delete_untagged": {"on"}})
	job = resp.Header.Get("Location")
	if !strings.HasPrefix(job, "/admin/gc/") {
		t.Fatalf("gc run: %d %s", resp.StatusCode, job)
	}
	body = a.waitPage(job, `id="job-status">Success<`)
	if !strings.Contains(body, "workers: 2") || !strings.Contains(body, "delete_untagged: true") {
		t.Errorf("gc run page: %s", mainOf(body))
	}
	a.submit("/admin/gc", "/admin/gc", url.Values{"action": {"schedule"}, "type": {"Custom"}, "cron": {"0 0 1 * * *"}, "workers": {"1"}, "time_window": {"2"}})
	if _, body := a.get("/admin/gc"); !strings.Contains(body, "<code>Custom 0 0 1 * * *</code>") {
		t.Errorf("gc schedule: %s", mainOf(body))
	}
	a.submit("/admin/gc", "/admin/gc", url.Values{"action": {"schedule"}, "type": {"None"}, "workers": {"1"}, "time_window": {"2"}})
	if _, body := a.get("/admin/gc"); !strings.Contains(body, "Runs only when started by hand.") {
		t.Errorf("gc schedule not removed: %s", mainOf(body))
	}
}

// TestLifecycleHostileText: rule patterns and purge parameters with
// markup are shown as text.
func TestLifecycleHostileText(t *testing.T) {
	e := lifecycleEnv(t)
	a := e.browser("admin")
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	const pol = "/projects/secret/policies"
	a.submit(pol, pol+"/rules", url.Values{"template": {"always"}, "repo": {evil}, "tag": {evil}})
	_, body := a.get(pol)
	if !strings.Contains(body, "Rule created.") {
		t.Fatalf("rule with markup refused: %s", mainOf(body))
	}
	_, edit := a.get(pol + "?edit=0")
	a.submit("/admin/purgeaudit", "/admin/purgeaudit", url.Values{"action": {"schedule"}, "type": {"Daily"}, "audit_retention_hour": {"1"},
		"include_event_types": {evil}})
	_, purge := a.get("/admin/purgeaudit")
	for name, b := range map[string]string{"policies": body, "edit": edit, "purge": purge} {
		if strings.Contains(b, "<script>alert") || strings.Contains(b, "<img src=x") {
			t.Errorf("%s: unescaped markup", name)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("pattern not shown escaped")
	}
}

// TestStopButtons: runs that wait (the queue runs nothing here) show a
// stop button to those who may stop them, and stopping them works.
func TestStopButtons(t *testing.T) {
	e := lifecycleEnvRun(t, false)
	d := e.browser("dev")
	const pol = "/projects/secret/policies"
	d.submit(pol, pol+"/rules", url.Values{"template": {"always"}, "repo": {"**"}, "tag": {"**"}})
	resp, _ := d.submit(pol, pol+"/run", url.Values{"dry_run": {"true"}})
	run := resp.Header.Get("Location")
	_, body := d.get(run)
	if !strings.Contains(body, `id="run-status">Pending<`) || !strings.Contains(body, `id="stop-run"`) {
		t.Fatalf("pending run: %s", mainOf(body))
	}
	d.submit(run, run+"/stop", url.Values{})
	if _, body := d.get(run); !strings.Contains(body, "Stop requested.") || !strings.Contains(body, `id="run-status">Stopped<`) ||
		strings.Contains(body, `id="stop-run"`) {
		t.Fatalf("stopped run: %s", mainOf(body))
	}
	a := e.browser("admin")
	for _, path := range []string{"/admin/gc", "/admin/purgeaudit"} {
		resp, _ := a.submit(path, path, url.Values{"action": {"run"}, "workers": {"1"}, "time_window": {"0"},
			"audit_retention_hour": {"1"}, "include_event_types": {"pull_artifact"}})
		job := resp.Header.Get("Location")
		if _, body := a.get(job); !strings.Contains(body, `id="job-status">Pending<`) || !strings.Contains(body, `id="stop-job"`) {
			t.Fatalf("%s: pending run: %s", path, mainOf(body))
		}
		// A developer's forged stop is refused.
		d.submit(run, job+"/stop", url.Values{})
		if _, body := a.get(job); !strings.Contains(body, `id="job-status">Pending<`) {
			t.Fatalf("%s: the developer stopped the run", path)
		}
		a.submit(job, job+"/stop", url.Values{})
		if _, body := a.get(job); !strings.Contains(body, `id="job-status">Stopped<`) {
			t.Fatalf("%s: not stopped: %s", path, mainOf(body))
		}
	}
}

// TestImmutableTagHasNoDelete: an immutable tag is marked and offers no
// delete button (the API would refuse it).
func TestImmutableTagHasNoDelete(t *testing.T) {
	e := lifecycleEnv(t)
	a := e.browser("admin")
	m, err := e.store.GetManifest(e.ctx, "secret/app", "v1", false)
	if err != nil {
		t.Fatal(err)
	}
	art := "/projects/secret/repositories/app/artifacts/" + string(m.Digest)
	if _, body := a.get(art); !strings.Contains(body, `id="delete-tag-v1"`) {
		t.Fatalf("no delete button before the rule: %s", mainOf(body))
	}
	a.submit("/projects/secret/immutability", "/projects/secret/immutability", url.Values{"repo": {"**"}, "tag": {"v1"}})
	if _, body := a.get(art); strings.Contains(body, `id="delete-tag-v1"`) || !strings.Contains(body, `<span class="badge">immutable</span>`) {
		t.Fatalf("immutable tag: %s", mainOf(body))
	}
}
