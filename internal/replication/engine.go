package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// Engine runs replication policies: their executions are jobs of Kind
// (leased rows that survive a restart: a resumed execution keeps its
// tasks, skips those done, and copies nothing the destination has), one
// task per repository, copied by Workers at a time, each retried with
// backoff.
type Engine struct {
	Registries *Registries
	Store      meta.RegistryStore
	Jobs       *jobs.Queue
	Local      *Local
	Log        *slog.Logger
	// Workers bounds the tasks of one execution copied at a time (0: 4).
	Workers int
	// TaskAttempts bounds the tries of one task (0: 3); TaskBackoff is
	// the wait before the second (0: 2s), doubled for each next.
	TaskAttempts int
	TaskBackoff  time.Duration

	events chan events.Event
	// cached and cachedAt: the event_based policies (trigger.go).
	cacheMu  sync.Mutex
	cached   []Policy
	cachedAt time.Time
}

// Register makes q run replication executions.
func (e *Engine) Register(q *jobs.Queue) { q.Register(Kind, e.run) }

// EventParams make an execution copy (or delete) one artifact, as an
// event_based trigger asks.
type EventParams struct {
	Repo   string   `json:"repo"`
	Digest string   `json:"digest,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	// Delete: remove the artifact (Digest) or the Tags at the destination.
	Delete bool `json:"delete,omitempty"`
}

type execParams struct {
	Event *EventParams `json:"event,omitempty"`
}

// item is one top-level artifact of a task.
type item struct {
	Digest string   `json:"digest"`
	Tags   []string `json:"tags,omitempty"`
	// Listed: the source's tags were listed when the task was planned,
	// and Accessories are the cosign tags of this digest among them (not
	// listed: each is probed).
	Listed      bool     `json:"listed,omitempty"`
	Accessories []string `json:"accessories,omitempty"`
}

// TaskAttrs are a task's extra attributes: Harbor's ReplicationTask
// fields and what the task copies.
type TaskAttrs struct {
	Operation    string `json:"operation"` // copy, deletion
	ResourceType string `json:"resource_type"`
	SrcResource  string `json:"src_resource"`
	DstResource  string `json:"dst_resource"`
	SrcRepo      string `json:"src_repo"`
	DstRepo      string `json:"dst_repo"`
	Items        []item `json:"items"`
}

// ReadTaskAttrs decodes a task's extra attributes.
func ReadTaskAttrs(s string) (*TaskAttrs, error) {
	var a TaskAttrs
	if s == "" {
		return &a, nil
	}
	return &a, json.Unmarshal([]byte(s), &a)
}

// Harbor's display statuses of replication executions and tasks.
const (
	StatusInProgress = "InProgress"
	StatusSucceed    = "Succeed"
	StatusFailed     = "Failed"
	StatusStopped    = "Stopped"
)

// DisplayStatus is Harbor's replication status of a job status.
func DisplayStatus(status string) string {
	switch status {
	case meta.JobSuccess:
		return StatusSucceed
	case meta.JobError:
		return StatusFailed
	case meta.JobStopped:
		return StatusStopped
	}
	return StatusInProgress
}

// JobStatus is the job status of Harbor's replication status ("" if
// unknown).
func JobStatus(display string) []string {
	switch display {
	case StatusSucceed:
		return []string{meta.JobSuccess}
	case StatusFailed:
		return []string{meta.JobError}
	case StatusStopped:
		return []string{meta.JobStopped}
	case StatusInProgress:
		return []string{meta.JobPending, meta.JobRunning}
	}
	return nil
}

// side is one end of a copy.
type side struct {
	rm    *Remote
	local bool
}

func (e *Engine) side(ctx context.Context, id int64) (*side, error) {
	if id == 0 {
		return &side{rm: e.Local.remote(), local: true}, nil
	}
	rm, err := e.Registries.Remote(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("registry %d: %w", id, err)
	}
	return &side{rm: rm}, nil
}

// run is the job handler of one execution.
func (e *Engine) run(ctx context.Context, run *jobs.Run) error {
	var params execParams
	if err := run.Params(&params); err != nil {
		return err
	}
	p, err := e.Policy(ctx, run.Execution.VendorID)
	if errors.Is(err, meta.ErrNotFound) {
		return errors.New("the policy was deleted")
	} else if err != nil {
		return err
	}
	if p.SingleActiveReplication { // a scheduled run while the previous one goes on
		if active, err := e.active(ctx, p.ID, run.ID()); err != nil {
			return err
		} else if active {
			run.Log("skipped: a previous execution of the policy is still in progress (single_active_replication)")
			return nil
		}
	}
	ctx = localContext(ctx)
	src, err := e.side(ctx, p.SrcRegistry)
	if err != nil {
		return err
	}
	dst, err := e.side(ctx, p.DestRegistry)
	if err != nil {
		return err
	}
	tasks, err := e.tasks(ctx, run, p, src, params.Event)
	if err != nil {
		return err
	}
	run.Log("policy %q: %d task(s) (%s mode)", p.Name, len(tasks), map[bool]string{true: "push", false: "pull"}[p.PushMode()])
	workers := e.Workers
	if workers <= 0 {
		workers = 4
	}
	var wg sync.WaitGroup
	ch := make(chan *meta.Task)
	for range min(workers, max(len(tasks), 1)) {
		wg.Go(func() {
			for t := range ch {
				e.runTask(ctx, run, p, src, dst, t)
			}
		})
	}
	for _, t := range tasks {
		if t.Status == meta.JobSuccess {
			continue
		}
		select {
		case ch <- t:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
	if ctx.Err() != nil {
		return e.interrupted(ctx, run, tasks)
	}
	failed := 0
	for _, t := range tasks {
		if t.Status != meta.JobSuccess {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d task(s) failed", failed, len(tasks))
	}
	return nil
}

// interrupted ends a run whose context ended: on a stop request its
// unfinished tasks are Stopped; on a shutdown or a lost lease they are
// left for the replica that resumes the execution.
func (e *Engine) interrupted(ctx context.Context, run *jobs.Run, tasks []*meta.Task) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, jobs.ErrStopped) {
		bg := context.WithoutCancel(ctx)
		for _, t := range tasks {
			if t.Status == meta.JobPending || t.Status == meta.JobRunning {
				t.Status, t.StatusMessage, t.EndedAt = meta.JobStopped, "stopped on request", time.Now()
				if err := run.UpdateTask(bg, t); err != nil {
					e.Log.Warn("stopping a replication task", "task", t.ID, "err", err)
				}
			}
		}
	}
	return cause
}

// tasks are the execution's tasks: those it has (it is resumed), or one
// per source repository with artifacts to copy.
func (e *Engine) tasks(ctx context.Context, run *jobs.Run, p *Policy, src *side, ev *EventParams) ([]*meta.Task, error) {
	have, _, err := e.Jobs.Store.ListTasks(ctx, run.ID(), meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize}})
	if err != nil {
		return nil, err
	}
	if len(have) > 0 {
		out := make([]*meta.Task, len(have))
		for i := range have {
			out[i] = &have[i]
		}
		run.Log("resuming: %d task(s) already planned", len(out))
		return out, nil
	}
	var plan []TaskAttrs
	if ev != nil {
		plan, err = e.planEvent(p, ev)
	} else {
		plan, err = e.plan(ctx, run, p, src)
	}
	if err != nil {
		return nil, err
	}
	out := make([]*meta.Task, 0, len(plan))
	for _, a := range plan {
		t := &meta.Task{ExecutionID: run.ID(), Status: meta.JobPending}
		if err := run.AddTask(ctx, t, a); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// planEvent is the one task of an event.
func (e *Engine) planEvent(p *Policy, ev *EventParams) ([]TaskAttrs, error) {
	dstRepo, err := DestRepo(ev.Repo, p.DestNamespace, p.replaceCount())
	if err != nil {
		return nil, err
	}
	a := TaskAttrs{Operation: "copy", ResourceType: ResourceImage, SrcRepo: ev.Repo, DstRepo: dstRepo,
		Items: []item{{Digest: ev.Digest, Tags: ev.Tags}}}
	if ev.Delete {
		a.Operation = "deletion"
	}
	a.describe()
	return []TaskAttrs{a}, nil
}

// describe sets Harbor's src_resource and dst_resource.
func (a *TaskAttrs) describe() {
	n := len(a.Items)
	a.SrcResource = fmt.Sprintf("%s [%d item(s) in total]", a.SrcRepo, n)
	a.DstResource = fmt.Sprintf("%s [%d item(s) in total]", a.DstRepo, n)
}

// taskLog appends a line to a task's log.
func taskLog(ctx context.Context, run *jobs.Run, t *meta.Task, format string, args ...any) {
	_ = run.TaskLog(context.WithoutCancel(ctx), t.ID, format, args...)
}

// runTask runs one task, retried with backoff.
func (e *Engine) runTask(ctx context.Context, run *jobs.Run, p *Policy, src, dst *side, t *meta.Task) {
	a, err := ReadTaskAttrs(t.ExtraAttrs)
	if err != nil {
		t.Status, t.StatusMessage = meta.JobError, err.Error()
		_ = run.UpdateTask(context.WithoutCancel(ctx), t)
		return
	}
	attempts, backoff := e.TaskAttempts, e.TaskBackoff
	if attempts <= 0 {
		attempts = 3
	}
	if backoff <= 0 {
		backoff = 2 * time.Second
	}
	t.Status, t.StartedAt = meta.JobRunning, time.Now()
	_ = run.UpdateTask(ctx, t)
	for attempt := 1; ; attempt++ {
		t.RunCount++
		err = e.copyTask(ctx, run, p, src, dst, t, a)
		if err == nil || ctx.Err() != nil || attempt >= attempts {
			break
		}
		taskLog(ctx, run, t, "attempt %d failed: %v; retrying in %s", attempt, err, backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	if ctx.Err() != nil {
		return // interrupted: see Engine.interrupted
	}
	t.EndedAt = time.Now()
	if err != nil {
		t.Status, t.StatusMessage = meta.JobError, err.Error()
		taskLog(ctx, run, t, "failed: %v", err)
		run.Log("task %d (%s): %v", t.ID, a.SrcRepo, err)
	} else {
		t.Status, t.StatusMessage = meta.JobSuccess, ""
		taskLog(ctx, run, t, "done")
	}
	if err := run.UpdateTask(context.WithoutCancel(ctx), t); err != nil {
		e.Log.Warn("saving a replication task", "task", t.ID, "err", err)
	}
}

// isAccessoryTag reports a cosign tag-scheme accessory tag
// (sha256-<hex>.sig, .att, .sbom): copied with its subject, never alone.
func isAccessoryTag(tag string) bool {
	_, ok := accessorySubject(tag)
	return ok
}

// accessorySubject is the digest a cosign accessory tag is attached to.
func accessorySubject(tag string) (string, bool) {
	rest, ok := strings.CutPrefix(tag, "sha256-")
	if !ok || len(rest) < 64+4 {
		return "", false
	}
	switch rest[64:] {
	case ".sig", ".att", ".sbom":
		return "sha256:" + rest[:64], true
	}
	return "", false
}
