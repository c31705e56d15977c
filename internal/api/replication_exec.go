package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/replication"
)

// replicationExecutionJSON is Harbor's ReplicationExecution.
type replicationExecutionJSON struct {
	ID         int64  `json:"id"`
	PolicyID   int64  `json:"policy_id"`
	Status     string `json:"status"`
	Trigger    string `json:"trigger"`
	StartTime  string `json:"start_time"`
	EndTime    string `json:"end_time,omitempty"`
	StatusText string `json:"status_text"`
	Total      int    `json:"total"`
	Failed     int    `json:"failed"`
	Succeed    int    `json:"succeed"`
	InProgress int    `json:"in_progress"`
	Stopped    int    `json:"stopped"`
}

// replicationTrigger is Harbor's replication name of a job trigger.
func replicationTrigger(t string) string {
	switch t {
	case meta.TriggerSchedule:
		return replication.TriggerScheduled
	case meta.TriggerEvent:
		return replication.TriggerEvent
	}
	return replication.TriggerManual
}

// jobTrigger is the job trigger of Harbor's replication trigger name.
func jobTrigger(t string) string {
	switch t {
	case replication.TriggerScheduled:
		return meta.TriggerSchedule
	case replication.TriggerEvent:
		return meta.TriggerEvent
	case replication.TriggerManual:
		return meta.TriggerManual
	}
	return t
}

// executionJSONOf is e with its task counters.
func (s *Server) replicationExecutionOf(r *http.Request, e *meta.Execution) (replicationExecutionJSON, error) {
	start := e.StartedAt
	if start.IsZero() {
		start = e.CreatedAt
	}
	out := replicationExecutionJSON{ID: e.ID, PolicyID: e.VendorID, Status: replication.DisplayStatus(e.Status),
		Trigger: replicationTrigger(e.Trigger), StartTime: jobTime(start), EndTime: jobTime(e.EndedAt), StatusText: e.StatusMessage}
	tasks, _, err := s.opt.Jobs.Store.ListTasks(r.Context(), e.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize}})
	if err != nil {
		return out, err
	}
	out.Total = len(tasks)
	for _, t := range tasks {
		switch replication.DisplayStatus(t.Status) {
		case replication.StatusSucceed:
			out.Succeed++
		case replication.StatusFailed:
			out.Failed++
		case replication.StatusStopped:
			out.Stopped++
		default:
			out.InProgress++
		}
	}
	return out, nil
}

// listReplicationExecutions: GET /replication/executions (policy_id,
// status, trigger; q keys as every job list).
func (s *Server) listReplicationExecutions(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.replicationEngine(r); err != nil {
		return err
	}
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	vendor := int64(-1)
	if v := r.URL.Query().Get("policy_id"); v != "" {
		if vendor, err = strconv.ParseInt(v, 10, 64); err != nil || vendor <= 0 {
			return errBadRequest("policy_id must be a positive integer")
		}
	}
	if v := r.URL.Query().Get("status"); v != "" {
		st := replication.JobStatus(v)
		if st == nil {
			return errBadRequest("status must be InProgress, Succeed, Failed or Stopped")
		}
		q = q.With(meta.Cond{Key: "status", Op: meta.AnyOf, Values: st})
	}
	if v := r.URL.Query().Get("trigger"); v != "" {
		q = q.With(meta.Cond{Key: "trigger", Values: []string{jobTrigger(v)}})
	}
	list, total, err := s.opt.Jobs.Store.ListExecutions(r.Context(), meta.ExecutionQuery{Kind: replication.Kind, VendorID: vendor, ListQuery: q})
	if err != nil {
		return err
	}
	out := make([]replicationExecutionJSON, 0, len(list))
	for i := range list {
		x, err := s.replicationExecutionOf(r, &list[i])
		if err != nil {
			return err
		}
		out = append(out, x)
	}
	setPaging(w, r, q.Page, total)
	return writeJSON(w, http.StatusOK, out)
}

// startReplication: POST /replication/executions {"policy_id": N}, 201
// with Location; 409 while a run of a single_active_replication policy
// is in progress.
func (s *Server) startReplication(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationEngine(r)
	if err != nil {
		return err
	}
	var b struct {
		PolicyID int64 `json:"policy_id"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	p, err := e.Policy(r.Context(), b.PolicyID)
	if errors.Is(err, meta.ErrNotFound) {
		return errNotFound("replication policy not found")
	} else if err != nil {
		return err
	}
	if !p.Enabled {
		return errPrecondition("the policy is disabled")
	}
	id, err := e.Start(r.Context(), p.ID, meta.TriggerManual, nil)
	if errors.Is(err, meta.ErrConflict) {
		return errConflict("the policy has an execution in progress (single_active_replication)")
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "create", "replication_execution", strconv.FormatInt(id, 10), nil)
	return created(w, Prefix+"/replication/executions/"+strconv.FormatInt(id, 10))
}

// replicationExecutionFor reads execution {id}.
func (s *Server) replicationExecutionFor(r *http.Request) (*meta.Execution, error) {
	if _, err := s.replicationEngine(r); err != nil {
		return nil, err
	}
	return s.executionFor(r, "id", replication.Kind, -1)
}

// getReplicationExecution: GET /replication/executions/{id}.
func (s *Server) getReplicationExecution(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationExecutionFor(r)
	if err != nil {
		return err
	}
	x, err := s.replicationExecutionOf(r, e)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x)
}

// stopReplication: PUT /replication/executions/{id}: a run in progress
// stops after the artifacts being copied (nothing partial is tagged).
func (s *Server) stopReplication(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationExecutionFor(r)
	if err != nil {
		return err
	}
	if err := s.opt.Replication.Stop(r.Context(), e.ID); err != nil {
		return err
	}
	s.record(r.Context(), r, "stop", "replication_execution", strconv.FormatInt(e.ID, 10), nil)
	return ok(w)
}

// replicationTaskJSON is Harbor's ReplicationTask.
type replicationTaskJSON struct {
	ID           int64  `json:"id"`
	ExecutionID  int64  `json:"execution_id"`
	Status       string `json:"status"`
	JobID        string `json:"job_id"`
	Operation    string `json:"operation"`
	ResourceType string `json:"resource_type"`
	SrcResource  string `json:"src_resource"`
	DstResource  string `json:"dst_resource"`
	StartTime    string `json:"start_time"`
	EndTime      string `json:"end_time,omitempty"`
}

// listReplicationTasks: GET /replication/executions/{id}/tasks (status,
// resource_type).
func (s *Server) listReplicationTasks(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationExecutionFor(r)
	if err != nil {
		return err
	}
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	if v := r.URL.Query().Get("status"); v != "" {
		st := replication.JobStatus(v)
		if st == nil {
			return errBadRequest("status must be InProgress, Succeed, Failed or Stopped")
		}
		q = q.With(meta.Cond{Key: "status", Op: meta.AnyOf, Values: st})
	}
	rt := r.URL.Query().Get("resource_type")
	if rt != "" { // kept in the task's attributes: filtered here, from one bounded read
		page := q.Page
		q.Page = meta.Page{Page: 1, Size: meta.MaxListSize}
		all, _, err := s.opt.Jobs.Store.ListTasks(r.Context(), e.ID, q)
		if err != nil {
			return err
		}
		var kept []meta.Task
		for _, t := range all {
			if a, err := replication.ReadTaskAttrs(t.ExtraAttrs); err == nil && a.ResourceType == rt {
				kept = append(kept, t)
			}
		}
		return writeList(w, r, page, int64(len(kept)), pageSlice(kept, page), replicationTaskOf)
	}
	list, total, err := s.opt.Jobs.Store.ListTasks(r.Context(), e.ID, q)
	if err != nil {
		return err
	}
	return writeList(w, r, q.Page, total, list, replicationTaskOf)
}

func replicationTaskOf(t *meta.Task) replicationTaskJSON {
	a, err := replication.ReadTaskAttrs(t.ExtraAttrs)
	if err != nil {
		a = &replication.TaskAttrs{}
	}
	start := t.StartedAt
	if start.IsZero() {
		start = t.CreatedAt
	}
	return replicationTaskJSON{ID: t.ID, ExecutionID: t.ExecutionID, Status: replication.DisplayStatus(t.Status),
		JobID: strconv.FormatInt(t.ID, 10), Operation: a.Operation, ResourceType: a.ResourceType, SrcResource: a.SrcResource,
		DstResource: a.DstResource, StartTime: jobTime(start), EndTime: jobTime(t.EndedAt)}
}

// getReplicationLog: GET /replication/executions/{id}/tasks/{task_id}/log.
func (s *Server) getReplicationLog(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationExecutionFor(r)
	if err != nil {
		return err
	}
	tid, err := pathID(r, "task_id")
	if err != nil {
		return err
	}
	t, err := s.opt.Jobs.Store.GetTask(r.Context(), tid)
	if errors.Is(err, meta.ErrNotFound) || err == nil && t.ExecutionID != e.ID {
		return errNotFound("replication task not found")
	} else if err != nil {
		return err
	}
	return s.writeJobLog(w, r, meta.LogTask, t.ID)
}
