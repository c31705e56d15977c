package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// Harbor's shapes of background jobs, shared by the handlers of GC, audit
// purge and retention: the API converts the rows of internal/jobs.

// scheduleObj is Harbor's ScheduleObj.
type scheduleObj struct {
	Type              string      `json:"type"`
	Cron              string      `json:"cron"`
	NextScheduledTime *harborTime `json:"next_scheduled_time,omitempty"`
}

// scheduleBody is Harbor's Schedule: the body of POST and PUT
// …/schedule (id, status and times are read-only: berth ignores them,
// whatever their format).
type scheduleBody struct {
	ID           any            `json:"id,omitempty"`
	Status       any            `json:"status,omitempty"`
	CreationTime any            `json:"creation_time,omitempty"`
	UpdateTime   any            `json:"update_time,omitempty"`
	Schedule     *scheduleIn    `json:"schedule"`
	Parameters   map[string]any `json:"parameters"`
}

// scheduleIn is a ScheduleObj as a request carries it (its next time is
// read-only, and ignored).
type scheduleIn struct {
	Type string `json:"type"`
	Cron string `json:"cron"`
	Next any    `json:"next_scheduled_time,omitempty"`
}

// execHistory is Harbor's ExecHistory (audit purge), whose fields are
// those of GCHistory too: job_parameters is a JSON-encoded string.
type execHistory struct {
	ID            int64        `json:"id,omitempty"`
	JobName       string       `json:"job_name"`
	JobKind       string       `json:"job_kind"`
	JobParameters string       `json:"job_parameters"`
	Schedule      *scheduleObj `json:"schedule"`
	JobStatus     string       `json:"job_status"`
	Deleted       bool         `json:"deleted"`
	CreationTime  harborTime   `json:"creation_time"`
	UpdateTime    harborTime   `json:"update_time"`
}

// execMetrics is Harbor's Metrics: counts of an execution's tasks by status.
type execMetrics struct {
	TaskCount          int64 `json:"task_count"`
	SuccessTaskCount   int64 `json:"success_task_count"`
	ErrorTaskCount     int64 `json:"error_task_count"`
	PendingTaskCount   int64 `json:"pending_task_count"`
	RunningTaskCount   int64 `json:"running_task_count"`
	ScheduledTaskCount int64 `json:"scheduled_task_count"`
	StoppedTaskCount   int64 `json:"stopped_task_count"`
}

// execution is Harbor's Execution (its times are plain strings there).
type execution struct {
	ID            int64          `json:"id"`
	VendorType    string         `json:"vendor_type"`
	VendorID      int64          `json:"vendor_id"`
	Status        string         `json:"status"`
	StatusMessage string         `json:"status_message"`
	Metrics       *execMetrics   `json:"metrics,omitempty"`
	Trigger       string         `json:"trigger"`
	ExtraAttrs    map[string]any `json:"extra_attrs"`
	StartTime     string         `json:"start_time"`
	EndTime       string         `json:"end_time"`
}

// task is Harbor's Task.
type task struct {
	ID            int64          `json:"id"`
	ExecutionID   int64          `json:"execution_id"`
	Status        string         `json:"status"`
	StatusMessage string         `json:"status_message"`
	RunCount      int            `json:"run_count"`
	ExtraAttrs    map[string]any `json:"extra_attrs"`
	CreationTime  string         `json:"creation_time"`
	UpdateTime    string         `json:"update_time"`
	StartTime     string         `json:"start_time"`
	EndTime       string         `json:"end_time"`
}

// jobTime formats a time of Execution and Task ("" when not yet).
func jobTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// jsonObject decodes a JSON object kept as text ({} if empty or not one).
func jsonObject(text string) map[string]any {
	m := map[string]any{}
	if text != "" {
		_ = json.Unmarshal([]byte(text), &m)
		if m == nil {
			m = map[string]any{}
		}
	}
	return m
}

// titleTrigger is a trigger as ScheduleObj's type: MANUAL → Manual,
// SCHEDULE → Schedule, as Harbor converts it.
func titleTrigger(trigger string) string {
	if trigger == "" {
		return ""
	}
	return strings.ToUpper(trigger[:1]) + strings.ToLower(trigger[1:])
}

// execHistoryOf is an execution as ExecHistory (or GCHistory): Harbor
// shows its trigger as job_kind and as the schedule type, its parameters
// as job_parameters, and its start as creation_time.
func execHistoryOf(e *meta.Execution, jobName string) execHistory {
	params := e.Params
	if params == "" {
		params = "{}"
	}
	return execHistory{ID: e.ID, JobName: jobName, JobKind: e.Trigger, JobParameters: params,
		Schedule:  &scheduleObj{Type: titleTrigger(e.Trigger)},
		JobStatus: e.Status, CreationTime: harborTime(e.CreatedAt), UpdateTime: harborTime(e.UpdatedAt)}
}

// scheduleHistoryOf is a schedule as GET …/schedule shows it (Harbor: an
// ExecHistory whose job_kind is the cron).
func scheduleHistoryOf(j *meta.JobSchedule) execHistory {
	params := j.Params
	if params == "" {
		params = "{}"
	}
	next := harborTime(j.NextRun)
	return execHistory{JobKind: j.Cron, JobParameters: params,
		Schedule:     &scheduleObj{Type: j.Type, Cron: j.Cron, NextScheduledTime: &next},
		CreationTime: harborTime(j.CreatedAt), UpdateTime: harborTime(j.UpdatedAt)}
}

// executionOf is an execution in Harbor's Execution shape, with the
// given metrics (nil: none).
func executionOf(e *meta.Execution, vendorType string, m *execMetrics) execution {
	x := execution{ID: e.ID, VendorType: vendorType, VendorID: e.VendorID, Status: e.Status, StatusMessage: e.StatusMessage,
		Metrics: m, Trigger: e.Trigger, ExtraAttrs: jsonObject(e.Params),
		StartTime: jobTime(e.StartedAt), EndTime: jobTime(e.EndedAt)}
	if x.StartTime == "" {
		x.StartTime = jobTime(e.CreatedAt)
	}
	return x
}

// taskOf is a task in Harbor's Task shape.
func taskOf(t *meta.Task) task {
	return task{ID: t.ID, ExecutionID: t.ExecutionID, Status: t.Status, StatusMessage: t.StatusMessage, RunCount: t.RunCount,
		ExtraAttrs: jsonObject(t.ExtraAttrs), CreationTime: jobTime(t.CreatedAt), UpdateTime: jobTime(t.UpdatedAt),
		StartTime: jobTime(t.StartedAt), EndTime: jobTime(t.EndedAt)}
}

// queue is the job queue, or 503 when the server has none.
func (s *Server) queue() (*jobs.Queue, error) {
	if s.opt.Jobs == nil {
		return nil, errNotRunning("background jobs are not running")
	}
	return s.opt.Jobs, nil
}

// readSchedule reads a Schedule body; its schedule is required (Harbor:
// 400 "schedule can't be empty").
func readSchedule(r *http.Request) (*scheduleBody, error) {
	var b scheduleBody
	if err := readJSON(r, &b); err != nil {
		return nil, err
	}
	if b.Schedule == nil || b.Schedule.Type == "" {
		return nil, errBadRequest("schedule can't be empty")
	}
	if b.Parameters == nil {
		b.Parameters = map[string]any{}
	}
	return &b, nil
}

// jobRequest is what applySchedule does for a Schedule body.
type jobRequest struct {
	Name     string // the schedule's name ("gc", "purge_audit", "retention:12")
	Kind     string
	VendorID int64
	Params   any // kept as the execution's (and schedule's) parameters
	DryRun   bool
	Jitter   bool
}

// applySchedule acts on a schedule type as Harbor does: Manual enqueues
// an execution now (its id is returned; 409 if one is active and the kind
// is exclusive), None removes the schedule, Hourly, Daily, Weekly and
// Custom (with a valid cron: else 400) set it. Any other type is 400.
func (s *Server) applySchedule(ctx context.Context, obj *scheduleIn, req jobRequest) (int64, error) {
	q, err := s.queue()
	if err != nil {
		return 0, err
	}
	switch obj.Type {
	case jobs.ScheduleManual:
		id, err := q.Enqueue(ctx, req.Kind, req.VendorID, meta.TriggerManual, req.Params, req.DryRun)
		if errors.Is(err, meta.ErrConflict) {
			return 0, errConflict(fmt.Sprintf("a %s job is already running", strings.ReplaceAll(req.Kind, "_", " ")))
		}
		return id, err
	case jobs.ScheduleNone:
		return 0, q.DeleteSchedule(ctx, req.Name)
	}
	_, err = q.SetSchedule(ctx, jobs.ScheduleSpec{Name: req.Name, Kind: req.Kind, VendorID: req.VendorID, Type: obj.Type,
		Cron: obj.Cron, Params: req.Params, DryRun: req.DryRun, Jitter: req.Jitter})
	if errors.Is(err, jobs.ErrBadCron) {
		return 0, errBadRequest(err.Error())
	}
	return 0, err
}

// writeSchedule answers GET …/schedule: the schedule name as an
// ExecHistory, or, as Harbor, 200 with an empty body when there is none.
func (s *Server) writeSchedule(w http.ResponseWriter, r *http.Request, name string) error {
	q, err := s.queue()
	if err != nil {
		return err
	}
	j, err := q.Schedule(r.Context(), name)
	if errors.Is(err, meta.ErrNotFound) {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, scheduleHistoryOf(j))
}

// executionFor reads the execution whose id is the path value param, of
// the given kind (vendor too, if vendorID >= 0): 404 otherwise, as for a
// missing one.
func (s *Server) executionFor(r *http.Request, param, kind string, vendorID int64) (*meta.Execution, error) {
	q, err := s.queue()
	if err != nil {
		return nil, err
	}
	id, err := pathID(r, param)
	if err != nil {
		return nil, err
	}
	e, err := q.Store.GetExecution(r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && (e.Kind != kind || vendorID >= 0 && e.VendorID != vendorID) {
		return nil, errNotFound(fmt.Sprintf("%s job %d not found", strings.ReplaceAll(kind, "_", " "), id))
	}
	return e, err
}

// writeJobLog answers a job log as text/plain.
func (s *Server) writeJobLog(w http.ResponseWriter, r *http.Request, owner string, id int64) error {
	q, err := s.queue()
	if err != nil {
		return err
	}
	text, err := q.Store.ReadLog(r.Context(), owner, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write([]byte(text))
	return err
}

// listExecutions lists the executions of kind and vendor with Harbor's
// q, sort and paging (keys: id, status, trigger, dry_run, creation_time,
// start_time, end_time, update_time).
func (s *Server) listExecutions(r *http.Request, kind string, vendorID int64) ([]meta.Execution, int64, meta.Page, error) {
	q, err := s.queue()
	if err != nil {
		return nil, 0, meta.Page{}, err
	}
	lq, err := listQuery(r)
	if err != nil {
		return nil, 0, meta.Page{}, err
	}
	list, total, err := q.Store.ListExecutions(r.Context(), meta.ExecutionQuery{Kind: kind, VendorID: vendorID, ListQuery: lq})
	return list, total, lq.Page, err
}
