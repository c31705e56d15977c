package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/retention"
)

// Tag retention (Harbor's /retentions, tag "Retention"): a project's
// policy, its runs (executions, one task per repository) and their logs.
// The rules are internal/retention's; permissions are Harbor's
// tag-retention resource (project admins, maintainers, developers).
//
// Where berth differs from Harbor, keeping its shapes: a missing policy,
// execution or task is 404 (Harbor answers 500 or 400); a policy is
// checked when stored (see retention.Check), not when it first runs; a
// policy runs once at a time (409 while it runs); deleting a policy stops
// its runs; a task's report (what goes and the bytes it frees) is served
// as JSON by the task log's URL to a client that accepts only JSON.

// retentionExecution is Harbor's RetentionExecution.
type retentionExecution struct {
	ID        int64  `json:"id"`
	PolicyID  int64  `json:"policy_id"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time,omitempty"`
	Status    string `json:"status"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dry_run"`
}

// retentionTrigger is an execution's trigger as Harbor's retention shows
// it: MANUAL for API runs, "Schedule" for cron runs.
func retentionTrigger(t string) string {
	if t == meta.TriggerSchedule {
		return retention.TriggerSchedule
	}
	return t
}

func retentionExecutionOf(e *meta.Execution) retentionExecution {
	start := e.StartedAt
	if start.IsZero() {
		start = e.CreatedAt
	}
	return retentionExecution{ID: e.ID, PolicyID: e.VendorID, StartTime: jobTime(start), EndTime: jobTime(e.EndedAt),
		Status: e.Status, Trigger: retentionTrigger(e.Trigger), DryRun: e.DryRun}
}

// retentionTask is Harbor's RetentionExecutionTask, plus what the task
// freed (or would free) after GC and how many artifacts it deleted.
type retentionTask struct {
	ID             int64  `json:"id"`
	ExecutionID    int64  `json:"execution_id"`
	Repository     string `json:"repository"`
	JobID          string `json:"job_id,omitempty"`
	Status         string `json:"status"`
	StatusCode     int    `json:"status_code"`
	StatusRevision int64  `json:"status_revision,omitempty"`
	StartTime      string `json:"start_time,omitempty"`
	EndTime        string `json:"end_time,omitempty"`
	Total          int    `json:"total"`
	Retained       int    `json:"retained"`
	DeletedCount   int    `json:"deleted_count"`
	FreedBytes     int64  `json:"freed_bytes"`
}

// jobStatusCode is Harbor's code of a job status (jobservice/job/status.go).
func jobStatusCode(status string) int {
	switch status {
	case meta.JobPending:
		return 0
	case meta.JobRunning:
		return 2
	case meta.JobSuccess, meta.JobError, meta.JobStopped:
		return 3
	}
	return -1
}

func retentionTaskOf(t *meta.Task) retentionTask {
	a, err := retention.ReadTaskAttrs(t.ExtraAttrs)
	if err != nil {
		a = &retention.TaskAttrs{}
	}
	return retentionTask{ID: t.ID, ExecutionID: t.ExecutionID, Repository: a.Repository, Status: t.Status,
		StatusCode: jobStatusCode(t.Status), StatusRevision: t.UpdatedAt.Unix(), StartTime: jobTime(t.StartedAt),
		EndTime: jobTime(t.EndedAt), Total: a.Total, Retained: a.Retained, DeletedCount: a.DeletedCount, FreedBytes: a.FreedBytes}
}

// requireSignedIn refuses anonymous callers (Harbor's retention API
// authenticates every operation).
func requireSignedIn(r *http.Request) error {
	if auth.FromContext(r.Context()).Kind == auth.Anonymous {
		return errUnauthorized("authentication required for tag retention")
	}
	return nil
}

// retentionPolicy is a stored policy with its project, as a handler
// reads it.
type retentionPolicy struct {
	row     *meta.RetentionPolicy
	policy  *retention.Policy
	project *meta.Project
}

// retentionFor reads the policy {id} and checks the caller may do action
// in its project; a policy the caller may not see answers as a missing
// one.
func (s *Server) retentionFor(r *http.Request, action rbac.Action) (*retentionPolicy, error) {
	if err := requireSignedIn(r); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	missing := errNotFound(fmt.Sprintf("retention policy %d not found", id))
	row, err := s.opt.Catalog.RetentionPolicy(r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, missing
	}
	if err != nil {
		return nil, err
	}
	p, err := s.opt.Access.GetProject(r.Context(), row.ProjectID)
	if isNotFound(err) {
		return nil, missing
	}
	if err != nil {
		return nil, err
	}
	if err := s.mayAct(r, p, action, missing); err != nil {
		return nil, err
	}
	pol, err := retention.Unmarshal(row.Policy)
	if err != nil {
		return nil, err
	}
	pol.ID, pol.Scope = row.ID, &retention.Scope{Level: retention.ScopeProject, Ref: row.ProjectID}
	return &retentionPolicy{row: row, policy: pol, project: p}, nil
}

// readPolicy reads and checks a policy body.
func readPolicy(r *http.Request) (*retention.Policy, error) {
	var p retention.Policy
	if err := readJSON(r, &p); err != nil {
		return nil, err
	}
	var inv *retention.InvalidError
	var conflict *retention.ConflictError
	switch err := retention.Check(&p); {
	case errors.As(err, &inv):
		return nil, errBadRequest(inv.Reason)
	case errors.As(err, &conflict):
		return nil, errConflict(conflict.Reason)
	case err != nil:
		return nil, err
	}
	return &p, nil
}

// getRentenitionMetadata: GET /retentions/metadatas (Harbor's operationId,
// misspelt as it is), to any signed-in caller.
func (s *Server) getRentenitionMetadata(w http.ResponseWriter, r *http.Request) error {
	if err := requireSignedIn(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retention.TheMetadata())
}

// getRetention: GET /retentions/{id}, with the schedule's next run in
// trigger.settings.next_scheduled_time (as Harbor; the UI drops it before
// sending the policy back).
func (s *Server) getRetention(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.ReadRetention)
	if err != nil {
		return err
	}
	if q := s.opt.Jobs; q != nil && rp.policy.Cron() != "" {
		next, err := retention.NextRun(r.Context(), q, rp.row.ID)
		if err != nil {
			return err
		}
		if !next.IsZero() {
			rp.policy.Trigger.Settings[retention.SettingNextRun] = harborTime(next)
		}
	}
	return writeJSON(w, http.StatusOK, rp.policy)
}

// createRetention: POST /retentions. 400 for an invalid policy, a project
// that does not exist (or that the caller may not see), or one that has a
// policy already (Harbor's messages); 409 for two identical rules. The
// project's retention_id metadata is set with the policy.
func (s *Server) createRetention(w http.ResponseWriter, r *http.Request) error {
	if err := requireSignedIn(r); err != nil {
		return err
	}
	q, err := s.queue()
	if err != nil {
		return err
	}
	pol, err := readPolicy(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ref := pol.Scope.Ref
	badProject := errBadRequest(fmt.Sprintf("invalid Project id %d", ref))
	if ref <= 0 {
		return badProject
	}
	p, err := s.opt.Access.GetProject(ctx, ref)
	if isNotFound(err) {
		return badProject
	}
	if err != nil {
		return err
	}
	if err := s.mayAct(r, p, rbac.WriteRetention, badProject); err != nil {
		return err
	}
	pol.ID = 0
	text, err := retention.Marshal(pol)
	if err != nil {
		return err
	}
	row := &meta.RetentionPolicy{ProjectID: p.ID, Policy: text}
	switch err := s.opt.Catalog.CreateRetentionPolicy(ctx, row); {
	case errors.Is(err, meta.ErrConflict):
		return s.errHasPolicy(ctx, p)
	case isNotFound(err):
		return badProject
	case err != nil:
		return err
	}
	if err := retention.Schedule(ctx, q, row.ID, pol.Cron()); err != nil {
		// Without its schedule the policy would silently never run.
		if derr := s.opt.Catalog.DeleteRetentionPolicy(context.WithoutCancel(ctx), row.ID); derr != nil {
			s.opt.Logger.Warn("removing a retention policy whose schedule failed", "policy", row.ID, "err", derr)
		}
		return err
	}
	s.record(ctx, r, "create", "retention_policy", strconv.FormatInt(row.ID, 10), p)
	return created(w, fmt.Sprintf("%s/retentions/%d", Prefix, row.ID))
}

// errHasPolicy is Harbor's 400 for a project that has a policy.
func (s *Server) errHasPolicy(ctx context.Context, p *meta.Project) error {
	ps, err := s.opt.Access.ProjectSettings(ctx, p.ID)
	if err != nil {
		return err
	}
	cur := ""
	if st := ps[p.ID]; st != nil {
		cur = st.Metadata[meta.RetentionIDKey]
	}
	return errBadRequest(fmt.Sprintf("project %d already has retention policy %s", p.ID, cur))
}

// updateRetention: PUT /retentions/{id} replaces the policy (its rules and
// cron; the schedule follows). The body's scope must be the policy's
// project (Harbor: 404 otherwise; berth says why, 400).
func (s *Server) updateRetention(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.WriteRetention)
	if err != nil {
		return err
	}
	q, err := s.queue()
	if err != nil {
		return err
	}
	pol, err := readPolicy(r)
	if err != nil {
		return err
	}
	if pol.Scope.Ref != rp.project.ID {
		return errBadRequest(fmt.Sprintf("scope.ref must be %d, the project of retention policy %d", rp.project.ID, rp.row.ID))
	}
	pol.ID = 0
	text, err := retention.Marshal(pol)
	if err != nil {
		return err
	}
	ctx := r.Context()
	row := &meta.RetentionPolicy{ID: rp.row.ID, Policy: text}
	if err := s.opt.Catalog.UpdateRetentionPolicy(ctx, row); isNotFound(err) {
		return errNotFound(fmt.Sprintf("retention policy %d not found", rp.row.ID))
	} else if err != nil {
		return err
	}
	if err := retention.Schedule(ctx, q, row.ID, pol.Cron()); err != nil {
		return err
	}
	s.record(ctx, r, "update", "retention_policy", strconv.FormatInt(row.ID, 10), rp.project)
	return ok(w)
}

// deleteRetention: DELETE /retentions/{id}, with its schedule and the
// project's retention_id; its runs still going are asked to stop.
func (s *Server) deleteRetention(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.WriteRetention)
	if err != nil {
		return err
	}
	q, err := s.queue()
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.opt.Catalog.DeleteRetentionPolicy(ctx, rp.row.ID); isNotFound(err) {
		return errNotFound(fmt.Sprintf("retention policy %d not found", rp.row.ID))
	} else if err != nil {
		return err
	}
	if err := q.DeleteSchedule(ctx, retention.ScheduleName(rp.row.ID)); err != nil {
		return err
	}
	active, _, err := q.Store.ListExecutions(ctx, meta.ExecutionQuery{Kind: retention.JobKind, VendorID: rp.row.ID,
		ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize},
			Where: []meta.Cond{{Key: "status", Op: meta.AnyOf, Values: []string{meta.JobPending, meta.JobRunning}}}}})
	if err != nil {
		return err
	}
	for _, e := range active {
		if err := q.Store.RequestStop(ctx, e.ID); err != nil && !isNotFound(err) {
			return err
		}
	}
	s.record(ctx, r, "delete", "retention_policy", strconv.FormatInt(rp.row.ID, 10), rp.project)
	return ok(w)
}

// triggerRetentionExecution: POST /retentions/{id}/executions
// {"dry_run": bool} runs the policy now: 201 with the execution's
// Location; 409 while a run of the policy is going.
func (s *Server) triggerRetentionExecution(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.WriteRetention)
	if err != nil {
		return err
	}
	q, err := s.queue()
	if err != nil {
		return err
	}
	var body struct {
		DryRun bool `json:"dry_run"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	ctx := r.Context()
	id, err := q.Enqueue(ctx, retention.JobKind, rp.row.ID, meta.TriggerManual,
		retention.Params{Operator: auth.FromContext(ctx).Name}, body.DryRun)
	if errors.Is(err, meta.ErrConflict) {
		return errConflict(fmt.Sprintf("retention policy %d is running already", rp.row.ID))
	}
	if err != nil {
		return err
	}
	s.record(ctx, r, "create", "retention_execution", strconv.FormatInt(id, 10), rp.project)
	return created(w, fmt.Sprintf("%s/retentions/%d/executions/%d", Prefix, rp.row.ID, id))
}

// listRetentionExecutions: GET /retentions/{id}/executions, newest first
// (q and sort take id, status, trigger, dry_run, creation_time,
// start_time, end_time, update_time).
func (s *Server) listRetentionExecutions(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.ReadRetention)
	if err != nil {
		return err
	}
	list, total, page, err := s.listExecutions(r, retention.JobKind, rp.row.ID)
	if err != nil {
		return err
	}
	return writeList(w, r, page, total, list, retentionExecutionOf)
}

// operateRetentionExecution: PATCH /retentions/{id}/executions/{eid}
// {"action": "stop"}, the only action (Harbor's).
func (s *Server) operateRetentionExecution(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.WriteRetention)
	if err != nil {
		return err
	}
	var body struct {
		Action string `json:"action"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Action != "stop" {
		return errBadRequest("action should be 'stop'")
	}
	e, err := s.executionFor(r, "eid", retention.JobKind, rp.row.ID)
	if err != nil {
		return err
	}
	if err := s.opt.Jobs.Store.RequestStop(r.Context(), e.ID); err != nil {
		return err
	}
	s.record(r.Context(), r, "stop", "retention_execution", strconv.FormatInt(e.ID, 10), rp.project)
	return ok(w)
}

// listRetentionTasks: GET /retentions/{id}/executions/{eid}/tasks, one
// per repository, oldest first.
func (s *Server) listRetentionTasks(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.ReadRetention)
	if err != nil {
		return err
	}
	e, err := s.executionFor(r, "eid", retention.JobKind, rp.row.ID)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := s.opt.Jobs.Store.ListTasks(r.Context(), e.ID, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, retentionTaskOf)
}

// getRetentionTaskLog: GET /retentions/{id}/executions/{eid}/tasks/{tid},
// the task's log (text/plain, with Harbor's table). A client that accepts
// application/json and not text/plain gets the task's report instead: the
// artifacts that went (or, in a dry run, would go) with what went with
// them, and the bytes that frees once garbage collection has run.
func (s *Server) getRetentionTaskLog(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.retentionFor(r, rbac.ReadRetention)
	if err != nil {
		return err
	}
	e, err := s.executionFor(r, "eid", retention.JobKind, rp.row.ID)
	if err != nil {
		return err
	}
	tid, err := pathID(r, "tid")
	if err != nil {
		return err
	}
	t, err := s.opt.Jobs.Store.GetTask(r.Context(), tid)
	if isNotFound(err) || err == nil && t.ExecutionID != e.ID {
		return errNotFound(fmt.Sprintf("task %d of retention execution %d not found", tid, e.ID))
	}
	if err != nil {
		return err
	}
	if wantsJSONOnly(r) {
		a, err := retention.ReadTaskAttrs(t.ExtraAttrs)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a)
	}
	return s.writeJobLog(w, r, meta.LogTask, t.ID)
}

// wantsJSONOnly: the request's Accept names application/json and not
// text/plain (nor */*, which a browser sends).
func wantsJSONOnly(r *http.Request) bool {
	accept := strings.ToLower(strings.Join(r.Header.Values("Accept"), ","))
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/plain") &&
		!strings.Contains(accept, "*/*") && !strings.Contains(accept, "text/*")
}
