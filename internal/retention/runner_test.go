package retention

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

type runEnv struct {
	t      testing.TB
	path   string // the database file
	ctx    context.Context
	store  *sqlstore.Store
	q      *jobs.Queue
	runner *Runner
	policy int64
	seq    int
}

// newRunEnv is a store with project "p" and a policy for it, and a queue
// with the runner (its workers started by start).
func newRunEnv(t testing.TB, p *Policy) *runEnv {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	store, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	proj := &meta.Project{Name: "p"}
	if err := store.CreateProject(ctx, proj); err != nil {
		t.Fatal(err)
	}
	p.Scope = &Scope{Level: ScopeProject, Ref: proj.ID}
	if err := Check(p); err != nil {
		t.Fatal(err)
	}
	text, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	row := &meta.RetentionPolicy{ProjectID: proj.ID, Policy: text}
	if err := store.CreateRetentionPolicy(ctx, row); err != nil {
		t.Fatal(err)
	}
	q := jobs.NewQueue(store, "replica", slog.New(slog.NewTextHandler(io.Discard, nil)))
	q.TTL, q.Heartbeat, q.Poll, q.Grace = 2*time.Second, 50*time.Millisecond, 20*time.Millisecond, time.Second
	r := &Runner{Store: store}
	r.Register(q)
	return &runEnv{t: t, path: path, ctx: ctx, store: store, q: q, runner: r, policy: row.ID}
}

func (e *runEnv) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.q.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// push stores an image in p/repo with tags.
func (e *runEnv) push(repo string, tags ...string) digest.Digest {
	e.t.Helper()
	e.seq++
	repo = "p/" + repo
	var refs []oci.Ref
	for _, s := range []string{"config", "layer"} {
		content := fmt.Sprintf("%s %s %d", s, repo, e.seq)
		d := digest.FromString(content)
		if err := e.store.CommitBlob(e.ctx, repo, d, int64(len(content)), ""); err != nil {
			e.t.Fatal(err)
		}
		refs = append(refs, oci.Ref{Digest: d, Size: int64(len(content))})
	}
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, refs[0].Digest, refs[0].Size, refs[1].Digest, refs[1].Size)
	sum := sha256.Sum256([]byte(body))
	m := &meta.Manifest{Repo: repo, Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:]), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(body)), Body: []byte(body), Refs: refs}
	if err := e.store.PutManifest(e.ctx, m, tags); err != nil {
		e.t.Fatal(err)
	}
	return m.Digest
}

func (e *runEnv) count(repo string) int {
	e.t.Helper()
	arts, err := e.store.RetentionArtifacts(e.ctx, "p/"+repo)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(arts)
}

func (e *runEnv) enqueue(dry bool) int64 {
	e.t.Helper()
	id, err := e.q.Enqueue(e.ctx, JobKind, e.policy, meta.TriggerManual, Params{Operator: "tester"}, dry)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *runEnv) wait(id int64, status string, timeout ...time.Duration) *meta.Execution {
	e.t.Helper()
	deadline := time.Now().Add(append(timeout, 10*time.Second)[0])
	for {
		x, err := e.store.GetExecution(e.ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if x.Status == status {
			return x
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("execution %d is %s (%s), want %s", id, x.Status, x.StatusMessage, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *runEnv) tasks(id int64) map[string]meta.Task {
	e.t.Helper()
	ts, _, err := e.store.ListTasks(e.ctx, id, meta.ListQuery{Page: meta.Page{Page: 1, Size: 100}})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]meta.Task{}
	for _, t := range ts {
		a, err := ReadTaskAttrs(t.ExtraAttrs)
		if err != nil {
			e.t.Fatal(err)
		}
		out[a.Repository] = t
	}
	return out
}

func (e *runEnv) log(taskID int64) string {
	e.t.Helper()
	s, err := e.store.ReadLog(e.ctx, meta.LogTask, taskID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func deleteAll() *Policy {
	return &Policy{Algorithm: Algorithm, Trigger: &Trigger{Kind: TriggerSchedule, Settings: map[string]any{SettingCron: ""}},
		Rules: []Rule{rule(LatestPushedK, 0)}}
}

// TestRunnerStop: a stop asked while a real run is about to delete ends
// the run Stopped with nothing more deleted: its task reports the
// artifacts kept, the tasks not run are Stopped too.
func TestRunnerStop(t *testing.T) {
	e := newRunEnv(t, deleteAll())
	for _, repo := range []string{"a", "b", "c"} {
		e.push(repo, "x")
		e.push(repo, "y")
	}
	var eid int64
	e.runner.beforeDelete = func(ctx context.Context, repo string) {
		if err := e.store.RequestStop(context.Background(), eid); err != nil {
			t.Error(err)
		}
		select { // the next heartbeat sees the stop and cancels the run
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Error("the run was not cancelled by the stop")
		}
	}
	eid = e.enqueue(false)
	e.start()
	e.wait(eid, meta.JobStopped)
	tasks := e.tasks(eid)
	if len(tasks) != 3 {
		t.Fatalf("tasks %v", tasks)
	}
	for repo, task := range tasks {
		if task.Status != meta.JobStopped || e.count(repo) != 2 {
			t.Errorf("%s: task %s, %d artifacts left", repo, task.Status, e.count(repo))
		}
	}
	first := tasks["a"]
	a, _ := ReadTaskAttrs(first.ExtraAttrs)
	if a.Total != 2 || a.Retained != 2 || a.DeletedCount != 0 {
		t.Errorf("the stopped task's report: %+v", a)
	}
	if log := e.log(first.ID); !strings.Contains(log, "Retention job is stopped") || strings.Count(log, "| RETAIN    |") != 2 {
		t.Errorf("log:\n%s", log)
	}
}

// TestRunnerResumes: an execution whose replica died while running a
// task is claimed again when its lease expires: the task runs again (and
// says so), the others are added and run, none twice.
func TestRunnerResumes(t *testing.T) {
	e := newRunEnv(t, deleteAll())
	for _, repo := range []string{"a", "b"} {
		e.push(repo, "x")
	}
	eid := e.enqueue(false)
	x, err := e.store.Claim(e.ctx, []string{JobKind}, "dead", time.Millisecond, 3)
	if err != nil || x.ID != eid {
		t.Fatalf("claim %+v %v", x, err)
	}
	dead := &meta.Task{ExecutionID: eid, Status: meta.JobRunning, RunCount: 1, ExtraAttrs: `{"repository":"a","dry_run":false,"deleted":[]}`}
	if err := e.store.AddTask(e.ctx, dead); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	e.start()
	x = e.wait(eid, meta.JobSuccess)
	if x.Attempts != 2 {
		t.Errorf("attempts %d", x.Attempts)
	}
	tasks := e.tasks(eid)
	if len(tasks) != 2 || tasks["a"].ID != dead.ID || tasks["a"].RunCount != 2 || tasks["b"].RunCount != 1 {
		t.Fatalf("tasks %+v", tasks)
	}
	for repo, task := range tasks {
		if task.Status != meta.JobSuccess || e.count(repo) != 0 {
			t.Errorf("%s: %s, %d left", repo, task.Status, e.count(repo))
		}
	}
	if !strings.Contains(e.log(dead.ID), "Resumed (run 2)") {
		t.Errorf("log of the resumed task:\n%s", e.log(dead.ID))
	}
	var sum Summary
	if err := jsonUnmarshal(x.Result, &sum); err != nil || sum.Deleted != 2 || sum.Repositories != 2 || sum.Total != 2 {
		t.Errorf("result %s: %v", x.Result, err)
	}
}

// TestRunnerRefusedDeletes: what changed between the evaluation and the
// delete is respected: a tag pushed to an artifact meanwhile keeps it
// (RETAIN, said in the log), an immutability rule added meanwhile too
// (IMMUTABLE); the other goes.
func TestRunnerRefusedDeletes(t *testing.T) {
	e := newRunEnv(t, deleteAll())
	retagged := e.push("a", "x")
	protected := e.push("a", "y")
	e.push("a", "z")
	e.runner.beforeDelete = func(ctx context.Context, repo string) {
		if err := e.store.CreateTag(ctx, repo, "new", retagged); err != nil {
			t.Error(err)
		}
		rule := &meta.ImmutableRule{ProjectID: 1, Action: "immutable", Template: "immutable_template",
			TagSelectors:   []meta.ImmutableSelector{{Kind: "doublestar", Decoration: "matches", Pattern: "y"}},
			ScopeSelectors: map[string][]meta.ImmutableSelector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}}}
		if err := e.store.CreateImmutableRule(ctx, rule); err != nil {
			t.Error(err)
		}
	}
	eid := e.enqueue(false)
	e.start()
	e.wait(eid, meta.JobSuccess)
	task := e.tasks(eid)["a"]
	a, _ := ReadTaskAttrs(task.ExtraAttrs)
	if a.Total != 3 || a.Retained != 2 || a.DeletedCount != 1 || e.count("a") != 2 {
		t.Errorf("report %+v, %d left", a, e.count("a"))
	}
	log := e.log(task.ID)
	for _, want := range []string{"kept: tag new was pushed to it after the evaluation", string(retagged), string(protected)} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "| "+string(protected)) && !strings.Contains(line, "| IMMUTABLE |") {
			t.Errorf("protected: %s", line)
		}
		if strings.Contains(line, "| "+string(retagged)) && !strings.Contains(line, "| RETAIN    |") {
			t.Errorf("retagged: %s", line)
		}
	}
}

// TestRunnerPolicyGone: a scheduled run of a policy that went with its
// project fails saying so, and removes the schedule.
func TestRunnerPolicyGone(t *testing.T) {
	e := newRunEnv(t, deleteAll())
	if err := Schedule(e.ctx, e.q, 999, "0 0 3 * * *"); err != nil {
		t.Fatal(err)
	}
	x := &meta.Execution{Kind: JobKind, VendorID: 999, Trigger: meta.TriggerSchedule}
	if err := e.store.Enqueue(e.ctx, x, true); err != nil {
		t.Fatal(err)
	}
	e.start()
	got := e.wait(x.ID, meta.JobError)
	if !strings.Contains(got.StatusMessage, "retention policy 999 no longer exists") {
		t.Errorf("message %q", got.StatusMessage)
	}
	if _, err := e.q.Schedule(e.ctx, ScheduleName(999)); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("schedule left: %v", err)
	}
	// The project's own policy has no repository to work on: success.
	eid := e.enqueue(true)
	if x := e.wait(eid, meta.JobSuccess); len(e.tasks(eid)) != 0 {
		t.Errorf("tasks of an empty project: %+v", x)
	}
}

// TestRunnerPublishesRetentionEvents: a real run publishes TAG_RETENTION
// once per repository it deleted from, as berth's own work, with Harbor's
// event_data.retention; a dry run publishes nothing.
func TestRunnerPublishesRetentionEvents(t *testing.T) {
	e := newRunEnv(t, deleteAll())
	bus := events.New()
	got := make(chan events.Event, 10)
	bus.Subscribe(func(_ context.Context, ev events.Event) { got <- ev }, events.TagRetention)
	e.runner.Events = bus
	e.push("a", "v1")
	e.push("b") // untagged: deleteAll's latestPushedK 0 deletes both
	e.start()
	e.wait(e.enqueue(true), meta.JobSuccess)
	if len(got) != 0 {
		t.Fatalf("a dry run published %d events", len(got))
	}
	e.wait(e.enqueue(false), meta.JobSuccess)
	seen := map[string]bool{}
	for len(got) > 0 {
		ev := <-got
		if !ev.Internal || ev.Project != "p" || ev.Operator != AuditUser {
			t.Fatalf("event %+v", ev)
		}
		data := ev.Detail.(Event).EventData()["retention"].(map[string]any)
		deleted := data["deleted_artifact"].([]map[string]any)
		if data["result"] != "SUCCESS" || data["total"] != 1 || data["retained"] != 0 || len(deleted) != 1 ||
			data["retention_policy_id"] != e.policy {
			t.Fatalf("event_data %+v", data)
		}
		seen[ev.Repo] = true
		if ev.Repo == "p/a" && deleted[0]["name_tag"] != "p/a:v1" {
			t.Fatalf("deleted %+v", deleted)
		}
	}
	if !seen["p/a"] || !seen["p/b"] || len(seen) != 2 {
		t.Fatalf("events for %v, want p/a and p/b", seen)
	}
}
