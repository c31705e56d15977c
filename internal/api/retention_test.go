package api

import (
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/retention"
)

// seedsPolicy is the seeds' need as research §1.8 writes it (Reading A:
// dev-* kept 30 days, the last 3 test-* per repository, prod-* forever),
// pasted as-is: it names project 5.
const seedsPolicy = `{
  "algorithm": "or",
  "scope": { "level": "project", "ref": 5 },
  "trigger": { "kind": "Schedule", "settings": { "cron": "0 0 3 * * *" } },
  "rules": [
    { "action": "retain", "template": "nDaysSinceLastPush", "params": { "nDaysSinceLastPush": 30 },
      "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "dev-*",  "extras": "{\"untagged\":false}" } ],
      "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } },
    { "action": "retain", "template": "latestPushedK", "params": { "latestPushedK": 3 },
      "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "test-*", "extras": "{\"untagged\":false}" } ],
      "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } },
    { "action": "retain", "template": "always", "params": {},
      "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "prod-*", "extras": "{\"untagged\":false}" } ],
      "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } }
  ]
}`

// rawJSON sends a JSON text as it is.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// retentionEnv is an env with the retention job registered on its queue:
// running its workers (run) or not (the executions stay Pending).
func retentionEnv(t *testing.T, run bool) (*env, *jobs.Queue) {
	e := newEnv(t)
	register := func(q *jobs.Queue) { (&retention.Runner{Store: e.store}).Register(q) }
	if run {
		return e, e.withJobs(register)
	}
	q := jobs.NewQueue(e.store, "idle-replica", slog.New(slog.NewTextHandler(io.Discard, nil)))
	register(q)
	opt := e.api.opt
	opt.Jobs = q
	e.srv.Close()
	e.api = New(opt)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e, q
}

// projectWithID creates projects until one has id want, and returns it.
func (e *env) projectWithID(want int64, name string, members map[cred]int) *meta.Project {
	e.t.Helper()
	for i := 0; ; i++ {
		p := e.project(fmt.Sprintf("%s%d", name, i), false, nil)
		if p.ID >= want {
			if p.ID != want {
				e.t.Fatalf("project id %d, want %d", p.ID, want)
			}
			for c, role := range members {
				if err := e.store.SetMember(e.ctx, p.ID, e.userID(c.user), role); err != nil {
					e.t.Fatal(err)
				}
			}
			return p
		}
	}
}

// createRetention creates a policy and returns its id, read from Location.
func (e *env) createRetention(c cred, body any) int64 {
	e.t.Helper()
	resp, b := e.req(c, "POST", Prefix+"/retentions", body)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("create retention: %d %s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, Prefix+"/retentions/"), 10, 64)
	if err != nil || !strings.HasPrefix(loc, Prefix+"/retentions/") {
		e.t.Fatalf("Location %q", loc)
	}
	return id
}

// triggerRetention starts a run and returns its execution id.
func (e *env) triggerRetention(c cred, id int64, dryRun bool) int64 {
	e.t.Helper()
	path := fmt.Sprintf("%s/retentions/%d/executions", Prefix, id)
	resp, b := e.req(c, "POST", path, map[string]any{"dry_run": dryRun})
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("trigger: %d %s", resp.StatusCode, b)
	}
	eid, err := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Location"), path+"/"), 10, 64)
	if err != nil {
		e.t.Fatalf("Location %q", resp.Header.Get("Location"))
	}
	return eid
}

// policyOf is a one-rule policy for project ref.
func policyOf(ref int64, template string, param int, tagPattern, cron string) map[string]any {
	params := map[string]any{}
	if template != retention.Always {
		params[template] = param
	}
	return map[string]any{"algorithm": "or", "scope": map[string]any{"level": "project", "ref": ref},
		"trigger": map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": cron}, "references": map[string]any{}},
		"rules": []map[string]any{{"disabled": false, "action": "retain", "template": template, "params": params,
			"tag_selectors":   []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": tagPattern, "extras": `{"untagged":true}`}},
			"scope_selectors": map[string]any{"repository": []map[string]any{{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}}}}}
}

func retentionIDOf(t *testing.T, e *env, project int64) string {
	t.Helper()
	ps, err := e.store.ProjectSettings(e.ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	return ps[project].Metadata["retention_id"]
}

func TestRetentionPolicies(t *testing.T) {
	e, _ := retentionEnv(t, false)
	padmin, maint, dev, guest, outsider := e.user("padmin", false), e.user("maint", false), e.user("dev", false), e.user("guest", false), e.user("outsider", false)
	members := map[cred]int{padmin: int(rbac.RoleProjectAdmin), maint: int(rbac.RoleMaintainer), dev: int(rbac.RoleDeveloper), guest: int(rbac.RoleGuest)}
	p := e.projectWithID(5, "seeds", members)

	// The metadata, to anyone signed in.
	e.expect(http.StatusUnauthorized, cred{}, "GET", Prefix+"/retentions/metadatas", nil)
	md := decode[retention.Metadata](t, e.expect(http.StatusOK, outsider, "GET", Prefix+"/retentions/metadatas", nil))
	if len(md.Templates) != 5 || md.Templates[0].RuleTemplate != "latestPushedK" || md.TagSelectors[0].Decorations[1] != "excludes" {
		t.Errorf("metadata: %+v", md)
	}

	// Refused: anonymous, callers who may not, invalid policies.
	e.expect(http.StatusUnauthorized, cred{}, "POST", Prefix+"/retentions", rawJSON(seedsPolicy))
	e.expect(http.StatusForbidden, guest, "POST", Prefix+"/retentions", rawJSON(seedsPolicy))
	if b := e.expect(http.StatusBadRequest, outsider, "POST", Prefix+"/retentions", rawJSON(seedsPolicy)); !strings.Contains(b, "invalid Project id 5") {
		t.Errorf("a project the caller may not see: %s", b)
	}
	e.expect(http.StatusBadRequest, e.admin, "POST", Prefix+"/retentions", policyOf(999, "always", 0, "**", ""))
	for _, c := range []struct {
		change func(p map[string]any)
		status int
		want   string
	}{
		{func(p map[string]any) { p["algorithm"] = "and" }, 400, `algorithm must be \"or\"`},
		{func(p map[string]any) { p["rules"].([]map[string]any)[0]["template"] = "latestK" }, 400, "rule evaluator latestK is not registered"},
		{func(p map[string]any) { p["rules"].([]map[string]any)[0]["params"] = map[string]any{} }, 400, "missing required parameter latestPushedK"},
		{func(p map[string]any) {
			p["trigger"].(map[string]any)["settings"] = map[string]any{"cron": "* * * * *"}
		}, 400, "invalid cron string"},
		{func(p map[string]any) { p["scope"] = map[string]any{"level": "system", "ref": 0} }, 400, "scope system is not support"},
		{func(p map[string]any) {
			r := p["rules"].([]map[string]any)
			p["rules"] = append(r, r[0])
		}, 409, "rule 1 is conflict with rule 0"},
		{func(p map[string]any) {
			var rs []map[string]any
			for i := range 16 {
				rs = append(rs, policyOf(5, "latestPushedK", i, "**", "")["rules"].([]map[string]any)[0])
			}
			p["rules"] = rs
		}, 400, "only 15 rules are allowed at most"},
	} {
		body := policyOf(p.ID, "latestPushedK", 3, "**", "")
		c.change(body)
		if b := e.expect(c.status, e.admin, "POST", Prefix+"/retentions", body); !strings.Contains(b, c.want) {
			t.Errorf("%s, want %q", b, c.want)
		}
	}
	e.expect(http.StatusBadRequest, e.admin, "POST", Prefix+"/retentions", "not a policy")

	// The seeds' policy, pasted as-is, by a developer (Harbor's role table).
	id := e.createRetention(dev, rawJSON(seedsPolicy))
	if got := retentionIDOf(t, e, p.ID); got != strconv.FormatInt(id, 10) {
		t.Errorf("retention_id %q, want %d", got, id)
	}
	proj := decode[map[string]any](t, e.expect(http.StatusOK, padmin, "GET", Prefix+"/projects/5", nil))
	if proj["metadata"].(map[string]any)["retention_id"] != strconv.FormatInt(id, 10) {
		t.Errorf("project metadata: %v", proj["metadata"])
	}
	if b := e.expect(http.StatusBadRequest, padmin, "POST", Prefix+"/retentions", rawJSON(seedsPolicy)); !strings.Contains(b, fmt.Sprintf("project 5 already has retention policy %d", id)) {
		t.Errorf("second policy: %s", b)
	}
	// retention_id is the policy's to set.
	e.expect(http.StatusBadRequest, e.admin, "PUT", Prefix+"/projects/5/metadatas/retention_id", map[string]string{"retention_id": "77"})

	path := fmt.Sprintf("%s/retentions/%d", Prefix, id)
	got := decode[map[string]any](t, e.expect(http.StatusOK, maint, "GET", path, nil))
	var want map[string]any
	if err := json.Unmarshal([]byte(seedsPolicy), &want); err != nil {
		t.Fatal(err)
	}
	settings := got["trigger"].(map[string]any)["settings"].(map[string]any)
	next, err := time.Parse(time.RFC3339, fmt.Sprint(settings["next_scheduled_time"]))
	if err != nil || next.Before(time.Now()) || next.After(time.Now().Add(25*time.Hour)) {
		t.Errorf("next_scheduled_time %v: %v", settings["next_scheduled_time"], err)
	}
	delete(settings, "next_scheduled_time")
	if got["id"] != float64(id) || got["algorithm"] != "or" || fmt.Sprint(got["scope"]) != fmt.Sprint(want["scope"]) ||
		fmt.Sprint(got["trigger"]) != fmt.Sprint(want["trigger"]) || len(got["rules"].([]any)) != 3 {
		t.Errorf("policy read back: %v", got)
	}
	rule0 := got["rules"].([]any)[0].(map[string]any)
	if rule0["template"] != "nDaysSinceLastPush" || fmt.Sprint(rule0["params"]) != "map[nDaysSinceLastPush:30]" ||
		fmt.Sprint(rule0["tag_selectors"]) != `[map[decoration:matches extras:{"untagged":false} kind:doublestar pattern:dev-*]]` {
		t.Errorf("rule 0: %v", rule0)
	}
	e.expect(http.StatusForbidden, guest, "GET", path, nil)
	e.expect(http.StatusNotFound, outsider, "GET", path, nil)
	e.expect(http.StatusUnauthorized, cred{}, "GET", path, nil)
	e.expect(http.StatusNotFound, e.admin, "GET", Prefix+"/retentions/99999", nil)
	e.expect(http.StatusBadRequest, e.admin, "GET", Prefix+"/retentions/x", nil)
	sched, err := e.api.opt.Jobs.Schedule(e.ctx, retention.ScheduleName(id))
	if err != nil || sched.Cron != "0 0 3 * * *" || sched.Kind != retention.JobKind || sched.VendorID != id {
		t.Fatalf("schedule %+v %v", sched, err)
	}
	// Staggered: each policy's runs start at its own offset after the cron.
	if want := jobs.Jitter(retention.ScheduleName(id), "0 0 3 * * *", jobs.DefaultJitterWindow); sched.Jitter != want || want == 0 {
		t.Errorf("jitter %v, want %v", sched.Jitter, want)
	}

	// Update: the cron moves the schedule, "" removes it; the scope stays.
	upd := policyOf(p.ID, "latestPushedK", 10, "**", "0 30 1 * * *")
	e.expect(http.StatusForbidden, guest, "PUT", path, upd)
	e.expect(http.StatusNotFound, e.admin, "PUT", Prefix+"/retentions/99999", upd)
	other := e.project("other", false, nil)
	if b := e.expect(http.StatusBadRequest, e.admin, "PUT", path, policyOf(other.ID, "always", 0, "**", "")); !strings.Contains(b, "scope.ref must be 5") {
		t.Errorf("update to another project: %s", b)
	}
	e.expect(http.StatusOK, maint, "PUT", path, upd)
	if sched, err := e.api.opt.Jobs.Schedule(e.ctx, retention.ScheduleName(id)); err != nil || sched.Cron != "0 30 1 * * *" {
		t.Errorf("schedule after update: %+v %v", sched, err)
	}
	got = decode[map[string]any](t, e.expect(http.StatusOK, padmin, "GET", path, nil))
	if r := got["rules"].([]any); len(r) != 1 || fmt.Sprint(r[0].(map[string]any)["params"]) != "map[latestPushedK:10]" {
		t.Errorf("after update: %v", got)
	}
	e.expect(http.StatusOK, padmin, "PUT", path, policyOf(p.ID, "latestPushedK", 10, "**", ""))
	if _, err := e.api.opt.Jobs.Schedule(e.ctx, retention.ScheduleName(id)); err == nil {
		t.Errorf("a manual policy kept its schedule")
	}

	// Delete: the policy, its metadata; 404 after.
	e.expect(http.StatusForbidden, guest, "DELETE", path, nil)
	e.expect(http.StatusOK, padmin, "DELETE", path, nil)
	e.expect(http.StatusNotFound, padmin, "GET", path, nil)
	e.expect(http.StatusNotFound, padmin, "DELETE", path, nil)
	if got := retentionIDOf(t, e, p.ID); got != "" {
		t.Errorf("retention_id after delete: %q", got)
	}
	// A new policy then.
	e.createRetention(padmin, policyOf(p.ID, "always", 0, "**", "0 0 4 * * *"))

	if got := e.auditResources("create", "retention_policy"); len(got) != 2 {
		t.Errorf("create records: %v", got)
	}
	if got := e.auditResources("delete", "retention_policy"); !slices.Equal(got, []string{strconv.FormatInt(id, 10)}) {
		t.Errorf("delete records: %v", got)
	}
}

// TestRetentionExecutionsAPI: a run is one at a time, stops on request,
// lists and checks its policy; permissions per operation.
func TestRetentionExecutionsAPI(t *testing.T) {
	e, q := retentionEnv(t, false)
	dev, guest, outsider := e.user("dev", false), e.user("guest", false), e.user("outsider", false)
	p := e.project("proj", false, map[cred]int{dev: int(rbac.RoleDeveloper), guest: int(rbac.RoleGuest)})
	id := e.createRetention(e.admin, policyOf(p.ID, "always", 0, "**", ""))
	other := e.project("other", false, nil)
	otherID := e.createRetention(e.admin, policyOf(other.ID, "always", 0, "**", ""))
	base := fmt.Sprintf("%s/retentions/%d/executions", Prefix, id)

	e.expect(http.StatusForbidden, guest, "POST", base, map[string]any{"dry_run": true})
	e.expect(http.StatusNotFound, outsider, "POST", base, map[string]any{"dry_run": true})
	e.expect(http.StatusBadRequest, dev, "POST", base, nil)
	eid := e.triggerRetention(dev, id, true)
	// No worker runs it: it is Pending, and a second run waits for it.
	if b := e.expect(http.StatusConflict, dev, "POST", base, map[string]any{"dry_run": false}); !strings.Contains(b, "is running already") {
		t.Errorf("second run: %s", b)
	}
	list := decode[[]retentionExecution](t, e.expect(http.StatusOK, dev, "GET", base, nil))
	if len(list) != 1 || list[0].ID != eid || list[0].PolicyID != id || list[0].Status != "Pending" || list[0].Trigger != "MANUAL" || !list[0].DryRun {
		t.Errorf("executions: %+v", list)
	}
	e.expect(http.StatusForbidden, guest, "GET", base, nil)
	e.expect(http.StatusOK, dev, "GET", fmt.Sprintf("%s/%d/tasks", base, eid), nil)
	e.expect(http.StatusNotFound, dev, "GET", fmt.Sprintf("%s/retentions/%d/executions/%d/tasks", Prefix, otherID, eid), nil)
	e.expect(http.StatusNotFound, dev, "GET", fmt.Sprintf("%s/%d/tasks/12345", base, eid), nil)

	stop := fmt.Sprintf("%s/%d", base, eid)
	if b := e.expect(http.StatusBadRequest, dev, "PATCH", stop, map[string]string{"action": "start"}); !strings.Contains(b, "action should be 'stop'") {
		t.Errorf("start: %s", b)
	}
	e.expect(http.StatusForbidden, guest, "PATCH", stop, map[string]string{"action": "stop"})
	e.expect(http.StatusNotFound, dev, "PATCH", fmt.Sprintf("%s/99999", base), map[string]string{"action": "stop"})
	e.expect(http.StatusNotFound, e.admin, "PATCH", fmt.Sprintf("%s/retentions/%d/executions/%d", Prefix, otherID, eid), map[string]string{"action": "stop"})
	e.expect(http.StatusOK, dev, "PATCH", stop, map[string]string{"action": "stop"})
	x, err := q.Store.GetExecution(e.ctx, eid)
	if err != nil || x.Status != meta.JobStopped {
		t.Fatalf("after stop: %+v %v", x, err)
	}
	// A new run may start; deleting the policy stops it.
	eid2 := e.triggerRetention(e.admin, id, false)
	e.expect(http.StatusOK, e.admin, "DELETE", Prefix+"/retentions/"+strconv.FormatInt(id, 10), nil)
	if x, err := q.Store.GetExecution(e.ctx, eid2); err != nil || x.Status != meta.JobStopped {
		t.Errorf("a run of a deleted policy: %+v %v", x, err)
	}
	e.expect(http.StatusNotFound, e.admin, "GET", base, nil)
	if got := e.auditResources("create", "retention_execution"); len(got) != 2 {
		t.Errorf("run records: %v", got)
	}
	if got := e.auditResources("stop", "retention_execution"); !slices.Equal(got, []string{strconv.FormatInt(eid, 10)}) {
		t.Errorf("stop records: %v", got)
	}
}

// backdate sets when manifest d of repo was pushed, and its tags.
func backdate(t *testing.T, db *sql.DB, repo string, d digest.Digest, days float64) {
	t.Helper()
	at := time.Now().Add(-time.Duration(days * 24 * float64(time.Hour))).UnixMilli()
	for _, q := range []string{`UPDATE manifests SET created_at = ? WHERE repo = ? AND digest = ?`,
		`UPDATE tags SET updated_at = ? WHERE repo = ? AND digest = ?`} {
		if _, err := db.Exec(q, at, repo, string(d)); err != nil {
			t.Fatal(err)
		}
	}
}

// pushIndexOf stores an index of the given manifests in repo with tags.
func (e *env) pushIndexOf(repo string, children []digest.Digest, tags ...string) digest.Digest {
	e.t.Helper()
	var descs []string
	var refs []oci.Ref
	for _, c := range children {
		m, err := e.store.GetManifest(e.ctx, repo, string(c), false)
		if err != nil {
			e.t.Fatal(err)
		}
		descs = append(descs, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, m.MediaType, m.Digest, m.Size))
		refs = append(refs, oci.Ref{Digest: m.Digest, Size: m.Size, Kind: oci.RefManifest})
	}
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[%s]}`, oci.MediaTypeImageIndex, strings.Join(descs, ","))
	sum := sha256.Sum256([]byte(body))
	m := &meta.Manifest{Repo: repo, Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:]), MediaType: oci.MediaTypeImageIndex,
		Size: int64(len(body)), Body: []byte(body), Refs: refs}
	if err := e.store.PutManifest(e.ctx, m, tags); err != nil {
		e.t.Fatal(err)
	}
	return m.Digest
}

// retentionRun waits for execution eid of policy id to succeed and returns
// its tasks by repository.
func (e *env) retentionRun(c cred, id, eid int64) map[string]retentionTask {
	e.t.Helper()
	e.waitExecution(eid, meta.JobSuccess)
	tasks := decode[[]retentionTask](e.t, e.expect(http.StatusOK, c, "GET", fmt.Sprintf("%s/retentions/%d/executions/%d/tasks", Prefix, id, eid), nil))
	out := map[string]retentionTask{}
	for _, t := range tasks {
		if t.Status != meta.JobSuccess || t.StatusCode != 3 || t.ExecutionID != eid || t.StartTime == "" || t.EndTime == "" {
			e.t.Errorf("task %+v", t)
		}
		out[t.Repository] = t
	}
	return out
}

func (e *env) taskLog(c cred, id, eid, tid int64) string {
	e.t.Helper()
	resp, b := e.req(c, "GET", fmt.Sprintf("%s/retentions/%d/executions/%d/tasks/%d", Prefix, id, eid, tid), nil, "Accept", "text/plain")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		e.t.Fatalf("task log: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return b
}

func (e *env) taskReport(c cred, id, eid, tid int64) retention.TaskAttrs {
	e.t.Helper()
	b := e.expect(http.StatusOK, c, "GET", fmt.Sprintf("%s/retentions/%d/executions/%d/tasks/%d", Prefix, id, eid, tid), nil, "Accept", "application/json")
	return decode[retention.TaskAttrs](e.t, b)
}

func (e *env) artifactDigests(repo string) []digest.Digest {
	e.t.Helper()
	arts, err := e.store.RetentionArtifacts(e.ctx, repo)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []digest.Digest
	for _, a := range arts {
		out = append(out, a.Digest)
	}
	slices.Sort(out)
	return out
}

func (e *env) sizeOf(repo string, ds ...digest.Digest) int64 {
	e.t.Helper()
	var n int64
	for _, d := range ds {
		a, err := e.store.Artifact(e.ctx, repo, d)
		if err != nil {
			e.t.Fatal(err)
		}
		n += a.Size
	}
	return n
}

func sortedDigests(ds ...digest.Digest) []digest.Digest {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

// TestRetentionSeedsPolicyRuns: the seeds' policy pasted as-is, on real
// artifacts with controlled push times: a dry run says exactly what would
// go and the bytes it frees, and deletes nothing; the real run deletes
// exactly that. Immutable artifacts stay (IMMUTABLE); an index goes with
// its children and signature, a child a kept index shares stays.
func TestRetentionSeedsPolicyRuns(t *testing.T) {
	e, _ := retentionEnv(t, true)
	padmin := e.user("padmin", false)
	p := e.projectWithID(5, "seeds", map[cred]int{padmin: int(rbac.RoleProjectAdmin)})
	db, err := sql.Open("sqlite", "file:"+e.path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	repo := p.Name + "/app"
	type art struct {
		tags []string
		days float64
	}
	arts := []art{
		{[]string{"dev-new"}, 10}, {[]string{"dev-old"}, 40}, {[]string{"dev-old2", "latest"}, 40},
		{[]string{"test-1"}, 1}, {[]string{"test-2"}, 2}, {[]string{"test-3"}, 3}, {[]string{"test-4"}, 4},
		{[]string{"test-7", "prod-7"}, 50}, {[]string{"prod-1"}, 400}, {[]string{"v1.2.3"}, 1}, {nil, 1}, {[]string{"v0.9"}, 100},
	}
	ds := map[string]digest.Digest{}
	for i, a := range arts {
		d := e.push(repo, a.tags...)
		backdate(t, db, repo, d, a.days)
		ds[fmt.Sprint(i)] = d
		for _, tag := range a.tags {
			ds[tag] = d
		}
	}
	// An old dev index with two children and a cosign signature, and a
	// recent test index sharing one of the children.
	c1, c2 := e.push(repo), e.push(repo)
	devIdx := e.pushIndexOf(repo, []digest.Digest{c1, c2}, "dev-multi")
	backdate(t, db, repo, devIdx, 60)
	sig := e.push(repo, "sha256-"+devIdx.Encoded()+".sig")
	c3 := e.push(repo)
	testIdx := e.pushIndexOf(repo, []digest.Digest{c2, c3}, "test-multi")
	backdate(t, db, repo, testIdx, 0.5)
	// v1.2.3 and v0.9 are immutable: no rule keeps them, they stay
	// (IMMUTABLE).
	e.createRule(e.admin, p.Name, ruleBody("matches", "v*", "repoMatches", "**"))
	// A second repository, a single old dev image.
	web := p.Name + "/web/front"
	webOld := e.push(web, "dev-ancient")
	backdate(t, db, web, webOld, 90)
	webNew := e.push(web, "prod-2")

	id := e.createRetention(padmin, rawJSON(seedsPolicy))
	before := e.artifactDigests(repo)
	wantGone := sortedDigests(ds["dev-old"], ds["dev-old2"], ds["test-4"], ds["10"], devIdx, c1, sig)
	// test-multi is among the 3 latest test-* (with test-1, test-2);
	// test-3 goes then.
	wantGone = sortedDigests(append(wantGone, ds["test-3"])...)
	wantFreed := e.sizeOf(repo, wantGone...)

	// The dry run.
	eid := e.triggerRetention(padmin, id, true)
	tasks := e.retentionRun(padmin, id, eid)
	if len(tasks) != 2 {
		t.Fatalf("tasks %+v", tasks)
	}
	app := tasks["app"]
	// candidates: 12 images, two indexes = 14; gone: 6 candidates
	if app.Total != 14 || app.Retained != 8 || app.DeletedCount != 6 || app.FreedBytes != wantFreed {
		t.Errorf("app task: %+v (want freed %d)", app, wantFreed)
	}
	rep := e.taskReport(padmin, id, eid, app.ID)
	var reported []digest.Digest
	for _, d := range rep.Deleted {
		reported = append(reported, d.Digest)
		reported = append(reported, d.Dependents...)
	}
	if slices.Sort(reported); !slices.Equal(reported, wantGone) || !rep.DryRun || rep.FreedBytes != wantFreed || rep.Repository != "app" {
		t.Errorf("report: %+v\nwant gone %v", rep, wantGone)
	}
	log := e.taskLog(padmin, id, eid, app.ID)
	for _, want := range []string{"Run retention process.", "Dry Run: true", "Load 14 candidates from repository " + repo,
		"|                                 Digest                                  |", " | Labels |     PushedTime      | PulledTime |     CreatedTime     | Retention |",
		"| dev-old2,latest ", "| IMMUTABLE |", "| accessory |", "| child     |", "| image     |"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, string(ds["v1.2.3"])) && !strings.Contains(line, "| RETAIN ") && !strings.Contains(line, "IMMUTABLE") {
			t.Errorf("v1.2.3: %s", line)
		}
		if strings.Contains(line, string(ds["v0.9"])) && !strings.Contains(line, "IMMUTABLE") {
			t.Errorf("v0.9 is immutable: %s", line)
		}
		if strings.Contains(line, string(devIdx)) && !strings.HasSuffix(line, "| DEL       |") {
			t.Errorf("the dev index: %s", line)
		}
	}
	if web := tasks["web/front"]; web.Total != 2 || web.DeletedCount != 1 || web.FreedBytes != e.sizeOf(p.Name+"/web/front", webOld) {
		t.Errorf("web task: %+v", web)
	}
	if got := e.artifactDigests(repo); !slices.Equal(got, before) {
		t.Errorf("a dry run deleted: %d of %d left", len(got), len(before))
	}
	execs := decode[[]retentionExecution](t, e.expect(http.StatusOK, padmin, "GET", fmt.Sprintf("%s/retentions/%d/executions", Prefix, id), nil))
	if len(execs) != 1 || execs[0].Status != "Success" || !execs[0].DryRun || execs[0].EndTime == "" {
		t.Errorf("executions %+v", execs)
	}

	// The real run deletes exactly what the dry run said.
	eid = e.triggerRetention(padmin, id, false)
	tasks = e.retentionRun(padmin, id, eid)
	if app := tasks["app"]; app.DeletedCount != 6 || app.FreedBytes != wantFreed {
		t.Errorf("real run: %+v", app)
	}
	var left []digest.Digest
	for _, d := range before {
		if !slices.Contains(wantGone, d) {
			left = append(left, d)
		}
	}
	if got := e.artifactDigests(repo); !slices.Equal(got, left) {
		t.Errorf("left %d artifacts, want %d", len(got), len(left))
	}
	if got := e.artifactDigests(web); !slices.Equal(got, []digest.Digest{webNew}) {
		t.Errorf("web left %v", got)
	}
	if got := e.auditResources("delete", "artifact"); len(got) != 7 {
		t.Errorf("audited deletes: %v", got)
	}
	// A second real run finds nothing more to delete.
	eid = e.triggerRetention(padmin, id, false)
	if tasks := e.retentionRun(padmin, id, eid); tasks["app"].DeletedCount != 0 || tasks["app"].Total != 8 {
		t.Errorf("second run: %+v", tasks["app"])
	}
	execs = decode[[]retentionExecution](t, e.expect(http.StatusOK, padmin, "GET", fmt.Sprintf("%s/retentions/%d/executions?page_size=1", Prefix, id), nil))
	if len(execs) != 1 || execs[0].ID != eid || execs[0].DryRun {
		t.Errorf("newest first: %+v", execs)
	}
}

// TestRetentionPullTimes: for nDaysSinceLastPull, a pull moves the clock
// and an artifact never pulled counts as pulled when it was pushed.
func TestRetentionPullTimes(t *testing.T) {
	e, _ := retentionEnv(t, true)
	p := e.project("pulls", false, nil)
	db, err := sql.Open("sqlite", "file:"+e.path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	repo := p.Name + "/app"
	old := e.push(repo, "old")            // pushed 30 days ago, never pulled: goes
	fresh := e.push(repo, "fresh")        // pushed 2 days ago, never pulled: stays
	pulled := e.push(repo, "pulled")      // pushed 30 days ago, pulled yesterday: stays
	stale := e.push(repo, "stale")        // pushed 30 days ago, pulled 20 days ago: goes
	byDigest := e.push(repo, "by-digest") // pushed 30 days ago, pulled by digest yesterday: stays
	for d, days := range map[digest.Digest]float64{old: 30, fresh: 2, pulled: 30, stale: 30, byDigest: 30} {
		backdate(t, db, repo, d, days)
	}
	day := 24 * time.Hour
	if err := e.store.RecordPulls(e.ctx, nil, []meta.PullTime{
		{Repo: repo, Digest: pulled, Tag: "pulled", At: time.Now().Add(-day)},
		{Repo: repo, Digest: stale, Tag: "stale", At: time.Now().Add(-20 * day)},
		{Repo: repo, Digest: byDigest, At: time.Now().Add(-day)},
	}); err != nil {
		t.Fatal(err)
	}
	id := e.createRetention(e.admin, policyOf(p.ID, retention.NDaysSinceLastPull, 7, "**", ""))
	eid := e.triggerRetention(e.admin, id, true)
	task := e.retentionRun(e.admin, id, eid)["app"]
	var gone []digest.Digest
	for _, d := range e.taskReport(e.admin, id, eid, task.ID).Deleted {
		gone = append(gone, d.Digest)
	}
	if slices.Sort(gone); !slices.Equal(gone, sortedDigests(old, stale)) {
		t.Errorf("gone %v, want old %s and stale %s", gone, old, stale)
	}
}
