package metatest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// WebhookStore is what the webhook suite needs: the policies and
// deliveries, and projects.
type WebhookStore interface {
	meta.AccessStore
	meta.WebhookStore
}

// RunWebhook is the suite for meta.WebhookStore. open returns a fresh,
// empty store (and arranges its own cleanup).
func RunWebhook(t *testing.T, open func(t *testing.T) WebhookStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s WebhookStore)
	}{
		{"Policies", testWebhookPolicies},
		{"DeliveriesInOrderPerKey", testWebhookOrder},
		{"LeasesAndRetries", testWebhookLeases},
		{"ConcurrentClaims", testWebhookConcurrentClaims},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func webhookProject(t *testing.T, s WebhookStore, name string) (*meta.Project, *meta.WebhookPolicy) {
	t.Helper()
	ctx := t.Context()
	p := &meta.Project{Name: name}
	must(t, s.CreateProject(ctx, p), "CreateProject")
	pol := &meta.WebhookPolicy{ProjectID: p.ID, Name: "hook", Enabled: true, Policy: `{"event_types":["PUSH_ARTIFACT"]}`,
		Secret: "sealed", Creator: "admin"}
	must(t, s.CreateWebhookPolicy(ctx, pol), "CreateWebhookPolicy")
	return p, pol
}

func testWebhookPolicies(t *testing.T, s WebhookStore) {
	ctx := t.Context()
	p, pol := webhookProject(t, s, "hooks")
	if pol.ID == 0 || pol.CreatedAt.IsZero() {
		t.Fatalf("create set %+v", pol)
	}
	got, err := s.WebhookPolicy(ctx, pol.ID)
	must(t, err, "WebhookPolicy")
	equal(t, *got, *pol, "the policy read back")
	wantErr(t, s.CreateWebhookPolicy(ctx, &meta.WebhookPolicy{ProjectID: p.ID, Name: "hook", Policy: "{}"}), meta.ErrConflict, "same name")
	wantErr(t, s.CreateWebhookPolicy(ctx, &meta.WebhookPolicy{ProjectID: p.ID + 100, Name: "x", Policy: "{}"}), meta.ErrNotFound, "no project")
	off := &meta.WebhookPolicy{ProjectID: p.ID, Name: "off", Policy: `{"event_types":["PULL_ARTIFACT"]}`}
	must(t, s.CreateWebhookPolicy(ctx, off), "create disabled")

	list, total, err := s.WebhookPolicies(ctx, p.ID, meta.ListQuery{Sort: []meta.Order{{Key: "name", Desc: true}}})
	must(t, err, "WebhookPolicies")
	if total != 2 || len(list) != 2 || list[0].Name != "off" {
		t.Fatalf("policies %+v %d", list, total)
	}
	_, _, err = s.WebhookPolicies(ctx, p.ID, meta.ListQuery{Where: []meta.Cond{{Key: "nope", Values: []string{"1"}}}})
	var qe *meta.QueryError
	if !errors.As(err, &qe) {
		t.Errorf("unknown key: %v", err)
	}
	enabled, err := s.ProjectWebhookPolicies(ctx, "hooks")
	must(t, err, "ProjectWebhookPolicies")
	if len(enabled) != 1 || enabled[0].ID != pol.ID {
		t.Errorf("enabled policies %+v", enabled)
	}
	in, err := s.WebhookEventInUse(ctx, "PULL_ARTIFACT")
	must(t, err, "WebhookEventInUse")
	equal(t, in, false, "pulls wanted by a disabled policy only")

	time.Sleep(2 * time.Millisecond)
	upd := &meta.WebhookPolicy{ID: off.ID, Name: "on", Enabled: true, Policy: off.Policy}
	must(t, s.UpdateWebhookPolicy(ctx, upd), "UpdateWebhookPolicy")
	got, err = s.WebhookPolicy(ctx, off.ID)
	must(t, err, "read after update")
	if got.Name != "on" || !got.Enabled || got.Secret != "" || got.ProjectID != p.ID || !got.UpdatedAt.After(off.UpdatedAt) {
		t.Errorf("updated %+v", got)
	}
	must(t, s.UpdateWebhookPolicy(ctx, &meta.WebhookPolicy{ID: off.ID, Name: "on", Policy: off.Policy, Secret: "new"}), "new secret")
	got, _ = s.WebhookPolicy(ctx, off.ID)
	equal(t, got.Secret, "new", "the secret replaced")
	in, err = s.WebhookEventInUse(ctx, "PULL_ARTIFACT")
	must(t, err, "WebhookEventInUse")
	equal(t, in, false, "pulls after the policy was disabled")
	wantErr(t, s.UpdateWebhookPolicy(ctx, &meta.WebhookPolicy{ID: off.ID, Name: "hook", Policy: "{}"}), meta.ErrConflict, "rename onto another")
	wantErr(t, s.UpdateWebhookPolicy(ctx, &meta.WebhookPolicy{ID: off.ID + 100, Name: "x", Policy: "{}"}), meta.ErrNotFound, "update of none")

	// Deliveries go with their policy, policies with their project.
	x := &meta.WebhookExecution{PolicyID: pol.ID, EventType: "PUSH_ARTIFACT", Trigger: meta.TriggerEvent, Payload: "{}",
		Tasks: []meta.WebhookTask{{OrderKey: "k"}}}
	must(t, s.AddWebhookExecutions(ctx, []*meta.WebhookExecution{x}), "AddWebhookExecutions")
	last, err := s.WebhookLastTriggers(ctx, p.ID)
	must(t, err, "WebhookLastTriggers")
	if len(last) != 1 || last[0].PolicyID != pol.ID || last[0].EventType != "PUSH_ARTIFACT" || last[0].At.IsZero() {
		t.Errorf("last triggers %+v", last)
	}
	must(t, s.DeleteWebhookPolicy(ctx, pol.ID), "DeleteWebhookPolicy")
	wantErr(t, s.DeleteWebhookPolicy(ctx, pol.ID), meta.ErrNotFound, "delete again")
	_, err = s.WebhookExecution(ctx, x.ID)
	wantErr(t, err, meta.ErrNotFound, "execution of a deleted policy")
	gone := &meta.WebhookExecution{PolicyID: pol.ID, EventType: "PUSH_ARTIFACT", Payload: "{}", Tasks: []meta.WebhookTask{{OrderKey: "k"}}}
	must(t, s.AddWebhookExecutions(ctx, []*meta.WebhookExecution{gone}), "add for a deleted policy")
	equal(t, gone.ID, int64(0), "execution of a deleted policy dropped")
	must(t, s.DeleteProject(ctx, p.ID), "DeleteProject")
	_, err = s.WebhookPolicy(ctx, off.ID)
	wantErr(t, err, meta.ErrNotFound, "policy of a deleted project")
}

// add adds one execution per key to the policy, each with one task.
func addDeliveries(t *testing.T, s WebhookStore, policy int64, keys ...string) []*meta.WebhookExecution {
	t.Helper()
	var xs []*meta.WebhookExecution
	for _, k := range keys {
		xs = append(xs, &meta.WebhookExecution{PolicyID: policy, EventType: "PUSH_ARTIFACT", Trigger: meta.TriggerEvent, Payload: `{"k":"` + k + `"}`,
			Tasks: []meta.WebhookTask{{OrderKey: k}}})
	}
	must(t, s.AddWebhookExecutions(t.Context(), xs), "AddWebhookExecutions")
	return xs
}

func claimIDs(t *testing.T, s WebhookStore, holder string, ttl time.Duration, n int) []int64 {
	t.Helper()
	ts, err := s.ClaimWebhookTasks(t.Context(), holder, ttl, n)
	must(t, err, "ClaimWebhookTasks")
	var ids []int64
	for _, k := range ts {
		ids = append(ids, k.ID)
	}
	return ids
}

// testWebhookOrder: a task is claimable only once every earlier task of
// its key has ended; other keys go on.
func testWebhookOrder(t *testing.T, s WebhookStore) {
	ctx := t.Context()
	_, pol := webhookProject(t, s, "order")
	xs := addDeliveries(t, s, pol.ID, "a", "b", "a", "a")
	a1, b1, a2, a3 := xs[0].Tasks[0].ID, xs[1].Tasks[0].ID, xs[2].Tasks[0].ID, xs[3].Tasks[0].ID
	equal(t, claimIDs(t, s, "r", time.Minute, 10), []int64{a1, b1}, "the first of each key")
	equal(t, len(claimIDs(t, s, "r", time.Minute, 10)), 0, "nothing more while they run")
	// a1 fails: it is retried later, a2 still waits behind it.
	must(t, s.FinishWebhookAttempt(ctx, a1, "r", meta.WebhookAttempt{Status: meta.JobPending, Code: 500, Message: "down",
		NextAt: time.Now().Add(300 * time.Millisecond), Log: "attempt 1\n"}), "retry a1")
	equal(t, len(claimIDs(t, s, "r", time.Minute, 10)), 0, "a2 waits for a1's retry")
	k, err := s.WebhookTask(ctx, a1)
	must(t, err, "WebhookTask")
	if k.Status != meta.JobPending || k.RunCount != 1 || k.LastCode != 500 || k.StatusMessage != "down" || k.Holder != "" {
		t.Errorf("a1 after a failed attempt: %+v", k)
	}
	x, _ := s.WebhookExecution(ctx, xs[0].ID)
	equal(t, x.Status, meta.JobRunning, "execution of a1 while retried")
	wantErr(t, s.FinishWebhookAttempt(ctx, a1, "r", meta.WebhookAttempt{Status: meta.JobError}), meta.ErrLeaseLost, "finish of an unheld task")
	must(t, s.FinishWebhookAttempt(ctx, b1, "r", meta.WebhookAttempt{Status: meta.JobSuccess, Code: 200, Log: "ok\n"}), "b1 delivered")
	x, _ = s.WebhookExecution(ctx, xs[1].ID)
	if x.Status != meta.JobSuccess || x.EndedAt.IsZero() {
		t.Errorf("execution of b1: %+v", x)
	}
	log, err := s.WebhookTaskLog(ctx, b1)
	must(t, err, "WebhookTaskLog")
	equal(t, log, "ok\n", "b1's log")

	// a1's retry comes due: it goes, then a2, then a3.
	time.Sleep(350 * time.Millisecond)
	for _, id := range []int64{a1, a2, a3} {
		equal(t, claimIDs(t, s, "r", time.Minute, 10), []int64{id}, "the next of key a")
		must(t, s.FinishWebhookAttempt(ctx, id, "r", meta.WebhookAttempt{Status: meta.JobSuccess, Code: 200}), "delivered")
	}
	equal(t, len(claimIDs(t, s, "r", time.Minute, 10)), 0, "all delivered")
}

// testWebhookLeases: an expired lease makes a task due again; Release
// gives a holder's tasks back; logs accumulate.
func testWebhookLeases(t *testing.T, s WebhookStore) {
	ctx := t.Context()
	_, pol := webhookProject(t, s, "leases")
	xs := addDeliveries(t, s, pol.ID, "a", "a")
	a1, a2 := xs[0].Tasks[0].ID, xs[1].Tasks[0].ID
	equal(t, claimIDs(t, s, "dead", 50*time.Millisecond, 10), []int64{a1}, "claimed by a replica that dies")
	time.Sleep(100 * time.Millisecond)
	equal(t, claimIDs(t, s, "r2", time.Minute, 10), []int64{a1}, "claimed again after its lease expired")
	wantErr(t, s.FinishWebhookAttempt(ctx, a1, "dead", meta.WebhookAttempt{Status: meta.JobSuccess}), meta.ErrLeaseLost, "the dead replica's finish")
	must(t, s.ReleaseWebhookTasks(ctx, "r2"), "ReleaseWebhookTasks")
	equal(t, claimIDs(t, s, "r3", time.Minute, 10), []int64{a1}, "claimed after release")
	must(t, s.FinishWebhookAttempt(ctx, a1, "r3", meta.WebhookAttempt{Status: meta.JobPending, NextAt: time.Now().Add(-time.Millisecond), Log: "one\n"}), "retry now")
	equal(t, claimIDs(t, s, "r3", time.Minute, 10), []int64{a1}, "the retry due")
	must(t, s.FinishWebhookAttempt(ctx, a1, "r3", meta.WebhookAttempt{Status: meta.JobError, Code: 404, Log: "two\n"}), "give up")
	log, _ := s.WebhookTaskLog(ctx, a1)
	equal(t, log, "one\ntwo\n", "the log of both attempts")
	x, _ := s.WebhookExecution(ctx, xs[0].ID)
	equal(t, x.Status, meta.JobError, "execution of a task given up")
	equal(t, claimIDs(t, s, "r3", time.Minute, 10), []int64{a2}, "the next of the key")
	tasks, total, err := s.WebhookTasks(ctx, xs[0].ID, meta.ListQuery{})
	must(t, err, "WebhookTasks")
	if total != 1 || tasks[0].RunCount != 2 || tasks[0].LastCode != 404 || tasks[0].PolicyID != pol.ID || tasks[0].Trigger != meta.TriggerEvent {
		t.Errorf("tasks %+v", tasks)
	}
	list, total, err := s.WebhookExecutions(ctx, pol.ID, meta.ListQuery{Where: []meta.Cond{{Key: "status", Values: []string{meta.JobError}}}})
	must(t, err, "WebhookExecutions")
	if total != 1 || list[0].ID != xs[0].ID {
		t.Errorf("executions in error: %+v", list)
	}
	jobs, total, err := s.WebhookJobs(ctx, pol.ID, meta.ListQuery{Where: []meta.Cond{{Key: "status", Op: meta.AnyOf,
		Values: []string{meta.JobError, meta.JobSuccess}}}})
	must(t, err, "WebhookJobs")
	if total != 1 || jobs[0].ID != a1 || jobs[0].Payload != `{"k":"a"}` || jobs[0].EventType != "PUSH_ARTIFACT" {
		t.Errorf("jobs %+v", jobs)
	}
	// Pruning removes what ended before the time, not what runs.
	n, err := s.PruneWebhookExecutions(ctx, time.Now().Add(time.Second), 10)
	must(t, err, "PruneWebhookExecutions")
	equal(t, n, int64(1), "executions pruned")
	_, err = s.WebhookTask(ctx, a1)
	wantErr(t, err, meta.ErrNotFound, "a pruned execution's task")
	_, err = s.WebhookExecution(ctx, xs[1].ID)
	must(t, err, "the running execution kept")
}

// testWebhookConcurrentClaims: replicas claiming at once never share a
// task.
func testWebhookConcurrentClaims(t *testing.T, s WebhookStore) {
	_, pol := webhookProject(t, s, "race")
	var keys []string
	for i := range 40 {
		keys = append(keys, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	addDeliveries(t, s, pol.ID, keys...)
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for r := range 4 {
		holder := string(rune('A' + r))
		wg.Go(func() {
			for range 20 {
				ts, err := s.ClaimWebhookTasks(t.Context(), holder, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, k := range ts {
					if other, dup := seen[k.ID]; dup {
						t.Errorf("task %d claimed by %s and %s", k.ID, other, holder)
					}
					seen[k.ID] = holder
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	equal(t, len(seen), 40, "tasks claimed")
}
