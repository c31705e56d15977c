package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// systemJob is a system-wide job Harbor serves under /system/<path>
// (garbage collection, the audit-log purge; later scan-all) with the
// same operations over the jobs machinery: set or run its schedule,
// list its runs, read one and its log, stop it. All are for system
// administrators.
type systemJob struct {
	path     string // under /system: "gc", "purgeaudit"
	idParam  string // the path parameter of one run: "gc_id", "purge_id"
	schedule string // the name of its schedule
	kind     string // the kind of its executions
	// resource is the audit resource type of a run; its schedule's is
	// resource + "_schedule".
	resource string
	// params reads a Schedule body's parameters: what the job keeps
	// and whether the run is a dry run (400 for bad ones).
	params func(map[string]any) (keep any, dryRun bool, err error)
	// history is a run as Harbor shows it (GCHistory, ExecHistory).
	history func(*meta.Execution) execHistory
}

// applyJobSchedule is what POST and PUT /system/<path>/schedule share:
// run now (Manual), remove the schedule (None: no parameters needed,
// though Harbor asks for them), or set it. It returns the execution
// started (0 if none).
func (s *Server) applyJobSchedule(r *http.Request, j *systemJob) (int64, error) {
	if err := requireAdmin(r); err != nil {
		return 0, err
	}
	b, err := readSchedule(r)
	if err != nil {
		return 0, err
	}
	ctx := r.Context()
	if b.Schedule.Type == jobs.ScheduleNone {
		if _, err := s.applySchedule(ctx, b.Schedule, jobRequest{Name: j.schedule, Kind: j.kind}); err != nil {
			return 0, err
		}
		s.record(ctx, r, "delete", j.resource+"_schedule", j.schedule, nil)
		return 0, nil
	}
	keep, dryRun, err := j.params(b.Parameters)
	if err != nil {
		return 0, err
	}
	id, err := s.applySchedule(ctx, b.Schedule, jobRequest{Name: j.schedule, Kind: j.kind, Params: keep, DryRun: dryRun})
	if err != nil {
		return 0, err
	}
	if id != 0 {
		s.record(ctx, r, "create", j.resource, strconv.FormatInt(id, 10), nil)
	} else {
		s.record(ctx, r, "update", j.resource+"_schedule", b.Schedule.Type, nil)
	}
	return id, nil
}

// createJobSchedule: POST /system/<path>/schedule. Manual runs the job
// now: 201 with Location /api/v2.0/system/<path>/{id} (409 while another
// run is active). Hourly, Daily, Weekly and Custom set the schedule
// (Location: the schedule; Harbor's is ".../0"), None removes it.
func (s *Server) createJobSchedule(w http.ResponseWriter, r *http.Request, j *systemJob) error {
	id, err := s.applyJobSchedule(r, j)
	if err != nil {
		return err
	}
	if id != 0 {
		return created(w, fmt.Sprintf("%s/system/%s/%d", Prefix, j.path, id))
	}
	return created(w, Prefix+"/system/"+j.path+"/schedule")
}

// updateJobSchedule: PUT /system/<path>/schedule, as POST but 200.
func (s *Server) updateJobSchedule(w http.ResponseWriter, r *http.Request, j *systemJob) error {
	if _, err := s.applyJobSchedule(r, j); err != nil {
		return err
	}
	return ok(w)
}

// getJobSchedule: GET /system/<path>/schedule: the schedule, or, as
// Harbor, an empty body when there is none.
func (s *Server) getJobSchedule(w http.ResponseWriter, r *http.Request, j *systemJob) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	return s.writeSchedule(w, r, j.schedule)
}

// listJobRuns: GET /system/<path>, newest first; q keys id, status,
// trigger, dry_run, creation_time, start_time, end_time, update_time.
func (s *Server) listJobRuns(w http.ResponseWriter, r *http.Request, j *systemJob) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	list, total, page, err := s.listExecutions(r, j.kind, 0)
	if err != nil {
		return err
	}
	return writeList(w, r, page, total, list, j.history)
}

// jobRun resolves the run named by the path (system administrators).
func (s *Server) jobRun(r *http.Request, j *systemJob) (*meta.Execution, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	return s.executionFor(r, j.idParam, j.kind, 0)
}

// getJobRun: GET /system/<path>/{id}.
func (s *Server) getJobRun(w http.ResponseWriter, r *http.Request, j *systemJob) error {
	e, err := s.jobRun(r, j)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j.history(e))
}

// getJobRunLog: GET /system/<path>/{id}/log, text/plain; empty until the
// run starts (Harbor: 404 then).
func (s *Server) getJobRunLog(w http.ResponseWriter, r *http.Request, j *systemJob) error {
	e, err := s.jobRun(r, j)
	if err != nil {
		return err
	}
	return s.writeJobLog(w, r, meta.LogExecution, e.ID)
}

// stopJobRun: PUT /system/<path>/{id}: a Pending run stops at once, a
// Running one at its next step (what it did stays done); a finished one
// is left as it is (200, as Harbor).
func (s *Server) stopJobRun(w http.ResponseWriter, r *http.Request, j *systemJob) error {
	e, err := s.jobRun(r, j)
	if err != nil {
		return err
	}
	if err := s.opt.Jobs.Store.RequestStop(r.Context(), e.ID); err != nil {
		return err
	}
	s.record(r.Context(), r, "stop", j.resource, strconv.FormatInt(e.ID, 10), nil)
	return ok(w)
}
