package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pullstats"
)

// JobKind is the job kind of a retention run; its vendor id is the
// policy's.
const JobKind = "retention"

// ScheduleName is the job schedule of policy id.
func ScheduleName(id int64) string { return "retention:" + strconv.FormatInt(id, 10) }

// Store is what a run reads and writes: the policy, the project and its
// repositories, their artifacts, the guarded deletes of tag immutability,
// the tasks of the execution, and the audit log.
type Store interface {
	meta.RetentionStore
	meta.ImmutableStore
	meta.JobStore
	GetProject(ctx context.Context, id int64) (*meta.Project, error)
	Repositories(ctx context.Context, last string, n int) ([]string, error)
	AppendAudit(ctx context.Context, recs []meta.AuditRecord) error
}

// Runner runs retention executions: one task per repository a rule of the
// policy applies to, run one after the other (a policy never loads the
// database with its repositories at once). Register it with the queue.
//
// A run is resumable (see jobs.Handler): claimed again after its replica
// died, it keeps the tasks it has, skips the finished ones and runs the
// others again, evaluating the repository as it is then.
type Runner struct {
	Store Store
	Log   *slog.Logger
	// Events, if set, is told of each repository a real run deleted from
	// (TAG_RETENTION, for webhooks).
	Events *events.Bus
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	// beforeDelete, if set, is called once a real run has decided what to
	// delete in a repository and before it deletes (tests).
	beforeDelete func(ctx context.Context, repo string)
}

// Register makes q run retention executions with r, one at a time per
// policy.
func (r *Runner) Register(q *jobs.Queue) { q.Register(JobKind, r.Run, jobs.Exclusive()) }

// Params are an execution's parameters.
type Params struct {
	// Operator is who asked for a manual run ("" for a scheduled one).
	Operator string `json:"operator,omitempty"`
}

// TaskAttrs are a task's extra attributes: Harbor's (repository, dry_run,
// total, retained) and the report of what went or would go.
type TaskAttrs struct {
	Repository string `json:"repository"`
	DryRun     bool   `json:"dry_run"`
	// Total counts the candidates, Retained those kept (Harbor's).
	Total    int `json:"total"`
	Retained int `json:"retained"`
	// Deleted lists the candidates deleted (or, in a dry run, that would
	// be), with what goes with them, up to MaxReported; DeletedCount counts
	// them all.
	Deleted      []Deletion `json:"deleted"`
	DeletedCount int        `json:"deleted_count"`
	// FreedBytes is what the deletions free once garbage collection has
	// run (see meta.RetentionStore.FreedBytes).
	FreedBytes int64 `json:"freed_bytes"`
}

// MaxReported bounds the deletions listed in a task's report (the counts
// and bytes are always exact).
const MaxReported = meta.MaxListSize

// Deletion is a candidate deleted, or to be.
type Deletion struct {
	Digest   digest.Digest `json:"digest"`
	Tags     []string      `json:"tags"`
	PushTime time.Time     `json:"push_time"`
	PullTime *time.Time    `json:"pull_time,omitempty"`
	Size     int64         `json:"size"`
	// Dependents are its accessories and index children that go with it.
	Dependents []digest.Digest `json:"dependents,omitempty"`
}

// Summary is an execution's result.
type Summary struct {
	DryRun       bool  `json:"dry_run"`
	Repositories int   `json:"repositories"`
	Total        int   `json:"total"`
	Retained     int   `json:"retained"`
	Deleted      int   `json:"deleted"`
	FreedBytes   int64 `json:"freed_bytes"`
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// repoPage is how many repository names a run reads at a time.
const repoPage = 1000

// repoTask is a repository to run, with its task.
type repoTask struct {
	repo, path string
	task       *meta.Task
}

// Run is the jobs.Handler of JobKind.
func (r *Runner) Run(ctx context.Context, run *jobs.Run) error {
	// A run reads the store, never a manifest through the registry; were
	// it ever to, that would not count as a pull.
	ctx = pullstats.Uncounted(ctx)
	x := &run.Execution
	mp, err := r.Store.RetentionPolicy(ctx, x.VendorID)
	if errors.Is(err, meta.ErrNotFound) {
		if x.Trigger == meta.TriggerSchedule { // the policy went with its project
			if err := r.Store.DeleteSchedule(ctx, ScheduleName(x.VendorID)); err != nil && !errors.Is(err, meta.ErrNotFound) {
				return err
			}
		}
		return fmt.Errorf("retention policy %d no longer exists", x.VendorID)
	}
	if err != nil {
		return err
	}
	p, err := Unmarshal(mp.Policy)
	if err != nil {
		return err
	}
	p.ID = mp.ID // the stored text may not carry it
	project, err := r.Store.GetProject(ctx, mp.ProjectID)
	if err != nil {
		return fmt.Errorf("the project of retention policy %d: %w", mp.ID, err)
	}
	todo, err := r.tasks(ctx, run, p, project.Name)
	if err != nil {
		return err
	}
	run.Log("Run retention policy %d of project %s: %d repositories, dry run %v", mp.ID, project.Name, len(todo), x.DryRun)
	if len(todo) == 0 {
		run.Log("no resources for retention")
	}
	sum := Summary{DryRun: x.DryRun, Repositories: len(todo)}
	failed := 0
	for _, t := range todo {
		if t.task.Status == meta.JobPending || t.task.Status == meta.JobRunning {
			if err := r.runTask(ctx, run, p, project, t); err != nil && ctx.Err() == nil {
				return err
			}
			if ctx.Err() != nil {
				return r.interrupted(ctx, todo)
			}
		}
		addSummary(&sum, t.task)
		if t.task.Status == meta.JobError {
			failed++
			run.Log("repository %s: %s", t.path, t.task.StatusMessage)
		}
	}
	if err := run.SetResult(sum); err != nil {
		return err
	}
	run.Log("retained %d of %d artifacts, deleted %d, freeing %d bytes after garbage collection", sum.Retained, sum.Total, sum.Deleted, sum.FreedBytes)
	if failed > 0 {
		return fmt.Errorf("retention failed in %d of %d repositories", failed, len(todo))
	}
	return nil
}

func addSummary(sum *Summary, t *meta.Task) {
	a, err := ReadTaskAttrs(t.ExtraAttrs)
	if err != nil {
		return
	}
	sum.Total += a.Total
	sum.Retained += a.Retained
	sum.Deleted += a.DeletedCount
	sum.FreedBytes += a.FreedBytes
}

// ReadTaskAttrs decodes a task's extra attributes.
func ReadTaskAttrs(s string) (*TaskAttrs, error) {
	var a TaskAttrs
	if s == "" {
		return &a, nil
	}
	if err := jsonUnmarshal(s, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// interrupted ends a run whose context ended: on a stop request the
// tasks not finished are Stopped; on a shutdown or a lost lease they are
// left for the replica that runs the execution next.
func (r *Runner) interrupted(ctx context.Context, todo []repoTask) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, jobs.ErrStopped) {
		bg := context.WithoutCancel(ctx)
		t := r.now()
		for _, rt := range todo {
			if rt.task.Status == meta.JobPending || rt.task.Status == meta.JobRunning {
				rt.task.Status, rt.task.StatusMessage, rt.task.EndedAt = meta.JobStopped, "stopped on request", t
				if err := r.Store.UpdateTask(bg, rt.task); err != nil {
					r.log().Warn("stopping a retention task", "task", rt.task.ID, "err", err)
				}
			}
		}
	}
	return cause
}

// tasks lists the repositories of the project some enabled rule applies
// to, with their tasks: those the execution has (it is resumed), and new
// Pending ones for the others.
func (r *Runner) tasks(ctx context.Context, run *jobs.Run, p *Policy, project string) ([]repoTask, error) {
	have := map[string]*meta.Task{}
	for page := 1; ; page++ {
		ts, total, err := r.Store.ListTasks(ctx, run.ID(), meta.ListQuery{Page: meta.Page{Page: page, Size: meta.MaxListSize}})
		if err != nil {
			return nil, err
		}
		for i := range ts {
			if a, err := ReadTaskAttrs(ts[i].ExtraAttrs); err == nil {
				have[a.Repository] = &ts[i]
			}
		}
		if int64(page*meta.MaxListSize) >= total {
			break
		}
	}
	var out []repoTask
	// The project's repositories are the names from "project/" up to
	// "project0" ('0' follows '/'): a range of the repositories' key, read
	// a page at a time.
	prefix := project + "/"
	for last := prefix; ; {
		names, err := r.Store.Repositories(ctx, last, repoPage)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if !strings.HasPrefix(name, prefix) {
				names = nil
				break
			}
			last = name
			path := strings.TrimPrefix(name, prefix)
			t := have[path]
			delete(have, path)
			if t == nil {
				if len(p.RulesFor(path)) == 0 {
					continue // left alone, as in Harbor: no task
				}
				t = &meta.Task{Status: meta.JobPending}
				if err := run.AddTask(ctx, t, TaskAttrs{Repository: path, DryRun: run.Execution.DryRun, Deleted: []Deletion{}}); err != nil {
					return nil, err
				}
			}
			out = append(out, repoTask{repo: name, path: path, task: t})
		}
		if len(names) < repoPage {
			break
		}
	}
	// Tasks of repositories deleted since: nothing left to do.
	for path, t := range have {
		if t.Status == meta.JobPending || t.Status == meta.JobRunning {
			t.Status, t.StatusMessage, t.EndedAt = meta.JobSuccess, "the repository was deleted", r.now()
			if err := r.Store.UpdateTask(ctx, t); err != nil {
				return nil, err
			}
		}
		out = append(out, repoTask{repo: project + "/" + path, path: path, task: t})
	}
	return out, nil
}

// runTask applies the policy to one repository and records the outcome
// in its task: Success, Error with the reason, or Stopped on request
// (with what was done until then). It returns an error only when it could
// not record the outcome; when the run was interrupted otherwise (a
// shutdown, a lost lease) it records nothing: the task runs again.
func (r *Runner) runTask(ctx context.Context, run *jobs.Run, p *Policy, project *meta.Project, rt repoTask) error {
	t := rt.task
	dry := run.Execution.DryRun
	t.Status, t.StatusMessage, t.StartedAt, t.EndedAt = meta.JobRunning, "", r.now(), time.Time{}
	t.RunCount++
	if err := r.Store.UpdateTask(ctx, t); err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		if err := run.TaskLog(context.WithoutCancel(ctx), t.ID, format, args...); err != nil {
			r.log().Warn("writing a retention task log", "task", t.ID, "err", err)
		}
	}
	if t.RunCount > 1 {
		logf("Resumed (run %d): the replica running it stopped", t.RunCount)
	}
	logf("Run retention process.\n Repository: %s \n Rule Algorithm: %s \n Dry Run: %v", rt.repo, p.Algorithm, dry)
	attrs, err := r.apply(ctx, p, project, rt, dry, logf)
	stopped := errors.Is(context.Cause(ctx), jobs.ErrStopped)
	if ctx.Err() != nil && !stopped {
		return ctx.Err()
	}
	t.EndedAt = r.now()
	switch {
	case stopped:
		logf("Retention job is stopped")
		t.Status, t.StatusMessage = meta.JobStopped, "stopped on request"
	case err != nil:
		logf("retention job: %v", err)
		t.Status, t.StatusMessage = meta.JobError, err.Error()
	default:
		t.Status = meta.JobSuccess
	}
	if attrs != nil {
		attrs.Repository, attrs.DryRun = rt.path, dry
		var merr error
		if t.ExtraAttrs, merr = jsonMarshal(attrs); merr != nil {
			return merr
		}
	}
	return r.Store.UpdateTask(context.WithoutCancel(ctx), t)
}

// apply evaluates the repository and, unless dry, deletes what goes.
func (r *Runner) apply(ctx context.Context, p *Policy, project *meta.Project, rt repoTask, dry bool, logf func(string, ...any)) (*TaskAttrs, error) {
	rules, err := immutable.NewGuard(r.Store).Rules(ctx, project.Name)
	if err != nil {
		return nil, err
	}
	stored, err := r.Store.RetentionArtifacts(ctx, rt.repo)
	if err != nil {
		return nil, err
	}
	arts := make([]Artifact, len(stored))
	for i := range stored {
		arts[i] = artifactOf(&stored[i], func(tag string) bool { return rules.Immutable(rt.path, tag) })
	}
	plan := Evaluate(p, rt.path, arts, r.now())
	candidates := 0
	for i := range plan.Decisions {
		if plan.Decisions[i].Candidate {
			candidates++
		}
	}
	logf("Load %d candidates from repository %s", candidates, rt.repo)
	var freed int64
	if dry {
		if freed, err = r.Store.FreedBytes(ctx, rt.repo, plan.deletedDigests()); err != nil {
			return nil, err
		}
	} else {
		// On a stop, perform returns what it did: it is logged and reported.
		freed, err = r.perform(ctx, plan, project.Name, rt, logf)
		if err != nil && !errors.Is(context.Cause(ctx), jobs.ErrStopped) {
			return nil, err
		}
	}
	logf("\n%s", plan.Table())
	for i := range plan.Decisions {
		if d := &plan.Decisions[i]; d.Error != "" {
			logf("Retention error for artifact %s:%s/%s:%s : %s", d.Kind(), project.Name, rt.path, d.Digest, d.Error)
		}
	}
	attrs := plan.report()
	attrs.FreedBytes = freed
	logf("Retained %d of %d artifacts; deleted %d, freeing %d bytes after garbage collection", attrs.Retained, attrs.Total, attrs.DeletedCount, freed)
	if !dry && attrs.DeletedCount > 0 {
		r.audit(ctx, plan, project, rt)
		r.publish(ctx, p, project, rt, attrs)
	}
	return attrs, nil
}

// artifactOf is a stored manifest as the evaluation sees it.
func artifactOf(s *meta.RetentionArtifact, immutableTag func(string) bool) Artifact {
	a := Artifact{Digest: s.Digest, PushedAt: s.PushedAt, PulledAt: s.PulledAt, Size: s.Size, Labels: s.Labels,
		AccessoryOf: s.AccessoryOf, Children: s.Children}
	for _, t := range s.Tags {
		a.Tags = append(a.Tags, Tag{Name: t.Name, PushedAt: t.PushedAt, PulledAt: t.PulledAt})
		a.Immutable = a.Immutable || immutableTag(t.Name)
	}
	return a
}

// deletedDigests lists every manifest the plan deletes.
func (p *Plan) deletedDigests() []digest.Digest {
	var out []digest.Digest
	for i := range p.Decisions {
		if p.Decisions[i].Verdict == Delete {
			out = append(out, p.Decisions[i].Digest)
		}
	}
	return out
}

// report is the task's attributes for the plan (as carried out).
func (p *Plan) report() *TaskAttrs {
	a := &TaskAttrs{Deleted: []Deletion{}}
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if !d.Candidate {
			continue
		}
		a.Total++
		if d.Verdict != Delete {
			a.Retained++
			continue
		}
		a.DeletedCount++
		if len(a.Deleted) < MaxReported {
			del := Deletion{Digest: d.Digest, Tags: d.TagNames(), PushTime: d.PushedTime.UTC(), Size: d.Size, Dependents: d.Dependents}
			if !d.PulledTime.IsZero() {
				pulled := d.PulledTime.UTC()
				del.PullTime = &pulled
			}
			a.Deleted = append(a.Deleted, del)
		}
	}
	return a
}

// perform deletes the plan's candidates with what goes with them, each
// through the store's guarded delete: a manifest is deleted only if none
// of its tags is immutable (by the project's rules as they are now, read
// again) and it has no tag it did not have when the plan was made (one
// pushed meanwhile keeps it). It returns the bytes
// freed, each family's counted just before it goes (exact, the families
// deleted before it being gone). A candidate whose delete is refused is
// marked IMMUTABLE, or RETAIN if a tag came, or ERR; the plan is updated.
func (r *Runner) perform(ctx context.Context, plan *Plan, project string, rt repoTask, logf func(string, ...any)) (int64, error) {
	byDigest := make(map[digest.Digest]*Decision, len(plan.Decisions))
	for i := range plan.Decisions {
		byDigest[plan.Decisions[i].Digest] = &plan.Decisions[i]
	}
	if r.beforeDelete != nil {
		r.beforeDelete(ctx, rt.repo)
	}
	rules, err := immutable.NewGuard(r.Store).Rules(ctx, project)
	if err != nil {
		plan.keepRest(0, byDigest)
		return 0, err
	}
	var freed int64
	for i := range plan.Decisions {
		d := &plan.Decisions[i]
		if !d.Candidate || d.Verdict != Delete {
			continue
		}
		if err := ctx.Err(); err != nil {
			plan.keepRest(i, byDigest)
			return freed, err
		}
		family := append([]digest.Digest{d.Digest}, d.Dependents...)
		n, err := r.Store.FreedBytes(ctx, rt.repo, family)
		if err != nil {
			plan.keepRest(i, byDigest)
			return freed, err
		}
		gone := 0
		for j, m := range family {
			md := byDigest[m]
			err := r.deleteOne(ctx, rt, md, rules)
			switch {
			case err != nil && ctx.Err() != nil: // stopped (or shutting down) in the middle
				if j == 0 {
					plan.keepRest(i, byDigest)
				} else {
					for _, rest := range family[j:] {
						byDigest[rest].Verdict, byDigest[rest].Error = Retain, "kept: the run stopped before it was deleted"
					}
					plan.keepRest(i+1, byDigest)
				}
				return freed, ctx.Err()
			case err != nil && j == 0: // the candidate stays, and so does its family
				r.refused(d, err, rules, rt.path)
				for _, dep := range d.Dependents {
					byDigest[dep].Verdict = Retain
				}
			case err != nil:
				md.Verdict, md.Error = Failed, err.Error()
				continue
			default:
				gone++
				continue
			}
			break
		}
		if gone == len(family) {
			freed += n
		} else if gone > 0 {
			logf("artifact %s: %d of the %d manifests that go with it were not deleted", d.Digest, len(family)-gone, len(family))
		}
	}
	return freed, nil
}

// keepRest marks the candidates from i on that were to go, with their
// dependents, as kept: the run stopped before it deleted them.
func (p *Plan) keepRest(i int, byDigest map[digest.Digest]*Decision) {
	for ; i < len(p.Decisions); i++ {
		if d := &p.Decisions[i]; d.Candidate && d.Verdict == Delete {
			d.Verdict, d.Error = Retain, "kept: the run stopped before it was deleted"
			for _, dep := range d.Dependents {
				byDigest[dep].Verdict = Retain
			}
		}
	}
}

// deleteOne deletes one manifest of the plan, guarded.
func (r *Runner) deleteOne(ctx context.Context, rt repoTask, d *Decision, rules immutable.Rules) error {
	had := make(map[string]bool, len(d.Tags))
	for _, t := range d.Tags {
		had[t.Name] = true
	}
	guard := func(tag string) bool { return !had[tag] || rules.Immutable(rt.path, tag) }
	err := r.Store.DeleteManifestGuarded(ctx, rt.repo, d.Digest, guard)
	if errors.Is(err, meta.ErrManifestNotFound) {
		return nil // gone already (a run resumed, a delete meanwhile)
	}
	return err
}

// refused records why a candidate's delete was refused.
func (r *Runner) refused(d *Decision, err error, rules immutable.Rules, path string) {
	var ie *meta.ImmutableTagError
	switch {
	case errors.As(err, &ie) && rules.Immutable(path, ie.Tag):
		d.Verdict = Immutable
	case errors.As(err, &ie):
		d.Verdict, d.Error = Retain, fmt.Sprintf("kept: tag %s was pushed to it after the evaluation", ie.Tag)
	default:
		d.Verdict, d.Error = Failed, err.Error()
	}
}

// audit records the artifacts deleted, as an API delete would be.
func (r *Runner) audit(ctx context.Context, plan *Plan, project *meta.Project, rt repoTask) {
	var recs []meta.AuditRecord
	at := r.now()
	for i := range plan.Decisions {
		if d := &plan.Decisions[i]; d.Candidate && d.Verdict == Delete {
			recs = append(recs, meta.AuditRecord{At: at, Username: AuditUser, Operation: "delete", ResourceType: "artifact",
				Resource: rt.repo + "@" + string(d.Digest), ProjectID: project.ID, Project: project.Name, Success: true})
		}
	}
	for chunk := range slices.Chunk(recs, 500) {
		if err := r.Store.AppendAudit(context.WithoutCancel(ctx), chunk); err != nil {
			r.log().Warn("recording retention deletes in the audit log", "repository", rt.repo, "err", err)
			return
		}
	}
}

// AuditUser is who the audit log says deleted what retention deleted.
const AuditUser = "tag-retention"

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
