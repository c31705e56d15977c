package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// purgeJobName is the job_name of a purge execution (Harbor's vendor type).
const purgeJobName = "PURGE_AUDIT_LOG"

// purgeParams reads Harbor's purge parameters from a Schedule body: as
// Harbor, audit_retention_hour and include_event_types are required (or,
// as before Harbor 2.13, include_operations); unlike Harbor, which drops
// them, values of the wrong type and unknown event types are 400.
func purgeParams(m map[string]any) (audit.PurgeParams, error) {
	var p audit.PurgeParams
	if len(m) == 0 {
		return p, errBadRequest("schedule parameter can't be empty")
	}
	rh, ok := m["audit_retention_hour"]
	if !ok {
		return p, errBadRequest("audit_retention_hour should provide")
	}
	f, ok := rh.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return p, errBadRequest("audit_retention_hour should be integer format")
	}
	p.AuditRetentionHour = int(f)
	_, events := m["include_event_types"]
	_, ops := m["include_operations"]
	if !events && !ops {
		return p, errBadRequest("include_event_types should provide")
	}
	for key, dst := range map[string]*string{"include_event_types": &p.IncludeEventTypes, "include_operations": &p.IncludeOperations} {
		if v, ok := m[key]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				return p, errBadRequest(key + " should be a comma-separated string")
			}
			*dst = s
		}
	}
	if v, ok := m["dry_run"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return p, errBadRequest("dry_run should be true or false")
		}
		p.DryRun = b
	}
	if err := p.Validate(auditEventTypes); err != nil {
		return p, errBadRequest(err.Error())
	}
	return p, nil
}

// purgeSchedule is what POST and PUT /system/purgeaudit/schedule share:
// run now (Manual), remove the schedule (None), or set it. It returns the
// execution started (0 if none).
func (s *Server) purgeSchedule(r *http.Request) (int64, error) {
	if err := requireAdmin(r); err != nil {
		return 0, err
	}
	b, err := readSchedule(r)
	if err != nil {
		return 0, err
	}
	ctx := r.Context()
	if b.Schedule.Type == jobs.ScheduleNone { // no parameters needed to remove it (Harbor asks for them)
		if _, err := s.applySchedule(ctx, b.Schedule, jobRequest{Name: audit.PurgeSchedule, Kind: audit.PurgeKind}); err != nil {
			return 0, err
		}
		s.record(ctx, r, "delete", "purge_audit_schedule", audit.PurgeSchedule, nil)
		return 0, nil
	}
	p, err := purgeParams(b.Parameters)
	if err != nil {
		return 0, err
	}
	id, err := s.applySchedule(ctx, b.Schedule, jobRequest{Name: audit.PurgeSchedule, Kind: audit.PurgeKind, Params: p, DryRun: p.DryRun})
	if err != nil {
		return 0, err
	}
	if id != 0 {
		s.record(ctx, r, "create", "purge_audit", strconv.FormatInt(id, 10), nil)
	} else {
		s.record(ctx, r, "update", "purge_audit_schedule", b.Schedule.Type, nil)
	}
	return id, nil
}

// createPurgeSchedule: POST /system/purgeaudit/schedule (system
// administrators). Manual runs the purge now: 201 with the execution's
// Location (409 while another purge is active: berth runs one at a
// time). Hourly, Daily, Weekly and Custom set the schedule (Location:
// the schedule), None removes it. Harbor's Location for those is ".../0".
func (s *Server) createPurgeSchedule(w http.ResponseWriter, r *http.Request) error {
	id, err := s.purgeSchedule(r)
	if err != nil {
		return err
	}
	if id != 0 {
		return created(w, fmt.Sprintf("%s/system/purgeaudit/%d", Prefix, id))
	}
	return created(w, Prefix+"/system/purgeaudit/schedule")
}

// updatePurgeSchedule: PUT /system/purgeaudit/schedule, as POST but 200.
func (s *Server) updatePurgeSchedule(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.purgeSchedule(r); err != nil {
		return err
	}
	return ok(w)
}

// getPurgeSchedule: GET /system/purgeaudit/schedule (system
// administrators): an ExecHistory, or an empty body when there is none
// (then the fixed --audit-retention-days pruning applies).
func (s *Server) getPurgeSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	return s.writeSchedule(w, r, audit.PurgeSchedule)
}

// getPurgeHistory: GET /system/purgeaudit (system administrators), newest
// first; q keys id, status, trigger, dry_run, creation_time, start_time,
// end_time, update_time.
func (s *Server) getPurgeHistory(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	list, total, page, err := s.listExecutions(r, audit.PurgeKind, 0)
	if err != nil {
		return err
	}
	return writeList(w, r, page, total, list, func(e *meta.Execution) execHistory { return execHistoryOf(e, purgeJobName) })
}

// getPurgeJob: GET /system/purgeaudit/{purge_id} (system administrators).
func (s *Server) getPurgeJob(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.executionFor(r, "purge_id", audit.PurgeKind, 0)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, execHistoryOf(e, purgeJobName))
}

// getPurgeJobLog: GET /system/purgeaudit/{purge_id}/log (system
// administrators), text/plain; empty until the run starts.
func (s *Server) getPurgeJobLog(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.executionFor(r, "purge_id", audit.PurgeKind, 0)
	if err != nil {
		return err
	}
	return s.writeJobLog(w, r, meta.LogExecution, e.ID)
}

// stopPurge: PUT /system/purgeaudit/{purge_id} (system administrators):
// a Pending purge stops at once, a Running one at its next batch; a
// finished one is left as it is (200, as Harbor).
func (s *Server) stopPurge(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.executionFor(r, "purge_id", audit.PurgeKind, 0)
	if err != nil {
		return err
	}
	if err := s.opt.Jobs.Store.RequestStop(r.Context(), e.ID); err != nil {
		return err
	}
	s.record(r.Context(), r, "stop", "purge_audit", strconv.FormatInt(e.ID, 10), nil)
	return ok(w)
}
