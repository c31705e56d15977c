package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// gcJobName is the job_name of a GC execution (Harbor's vendor type).
const gcJobName = "GARBAGE_COLLECTION"

// gcParams reads Harbor's GC parameters from a Schedule body
// (gc.ParseParams: delete_untagged, dry_run, workers 1 to 10, time_window
// in hours, 0 allowed) and returns them as the job keeps them, in
// Harbor's keys. Unlike Harbor, which drops them, values of the wrong
// type are 400; and the time window is the request's (Harbor takes it
// from the server's configuration).
func gcParams(m map[string]any) (gc.Params, map[string]any, error) {
	text, err := json.Marshal(m)
	if err != nil {
		return gc.Params{}, nil, errBadRequest("parameters: " + err.Error())
	}
	p, err := gc.ParseParams(string(text))
	var pe *gc.ParamsError
	if errors.As(err, &pe) {
		return p, nil, errBadRequest(pe.Msg)
	}
	if err != nil {
		return p, nil, err
	}
	keep := map[string]any{"delete_untagged": p.DeleteUntagged, "dry_run": p.DryRun, "workers": p.Workers, "time_window": p.TimeWindow}
	if v, ok := m["delete_tag"].(bool); ok { // Harbor's, kept for its UI; it changes nothing
		keep["delete_tag"] = v
	}
	return p, keep, nil
}

// gcSchedule is what POST and PUT /system/gc/schedule share: run now
// (Manual), remove the schedule (None), or set it. It returns the
// execution started (0 if none).
func (s *Server) gcSchedule(r *http.Request) (int64, error) {
	if err := requireAdmin(r); err != nil {
		return 0, err
	}
	b, err := readSchedule(r)
	if err != nil {
		return 0, err
	}
	ctx := r.Context()
	if b.Schedule.Type == jobs.ScheduleNone {
		if _, err := s.applySchedule(ctx, b.Schedule, jobRequest{Name: gc.Schedule, Kind: gc.Kind}); err != nil {
			return 0, err
		}
		s.record(ctx, r, "delete", "gc_schedule", gc.Schedule, nil)
		return 0, nil
	}
	p, keep, err := gcParams(b.Parameters)
	if err != nil {
		return 0, err
	}
	id, err := s.applySchedule(ctx, b.Schedule, jobRequest{Name: gc.Schedule, Kind: gc.Kind, Params: keep, DryRun: p.DryRun})
	if err != nil {
		return 0, err
	}
	if id != 0 {
		s.record(ctx, r, "create", "gc", strconv.FormatInt(id, 10), nil)
	} else {
		s.record(ctx, r, "update", "gc_schedule", b.Schedule.Type, nil)
	}
	return id, nil
}

// createGCSchedule: POST /system/gc/schedule (system administrators).
// Manual runs GC now: 201 with Location /api/v2.0/system/gc/{id} (409
// while another run is Pending or Running). Hourly, Daily, Weekly and
// Custom set the schedule (Location: the schedule), None removes it.
func (s *Server) createGCSchedule(w http.ResponseWriter, r *http.Request) error {
	id, err := s.gcSchedule(r)
	if err != nil {
		return err
	}
	if id != 0 {
		return created(w, fmt.Sprintf("%s/system/gc/%d", Prefix, id))
	}
	return created(w, Prefix+"/system/gc/schedule")
}

// updateGCSchedule: PUT /system/gc/schedule, as POST but 200.
func (s *Server) updateGCSchedule(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.gcSchedule(r); err != nil {
		return err
	}
	return ok(w)
}

// getGCSchedule: GET /system/gc/schedule (system administrators): a
// GCHistory whose job_kind is the cron, or, as Harbor, an empty body when
// there is none.
func (s *Server) getGCSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	return s.writeSchedule(w, r, gc.Schedule)
}

// gcHistoryOf is a GC execution as Harbor's GCHistory: its parameters
// with, as Harbor's check-in adds them, what it did (freed_space,
// purged_blobs, purged_manifests, and berth's other counts) once it has
// run.
func gcHistoryOf(e *meta.Execution) execHistory {
	h := execHistoryOf(e, gcJobName)
	if e.Result == "" {
		return h
	}
	attrs := jsonObject(e.Params)
	for k, v := range jsonObject(e.Result) {
		attrs[k] = v
	}
	if b, err := json.Marshal(attrs); err == nil {
		h.JobParameters = string(b)
	}
	return h
}

// getGCHistory: GET /system/gc (system administrators), newest first; q
// keys id, status, trigger, dry_run, creation_time, start_time,
// end_time, update_time.
func (s *Server) getGCHistory(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	list, total, page, err := s.listExecutions(r, gc.Kind, 0)
	if err != nil {
		return err
	}
	return writeList(w, r, page, total, list, gcHistoryOf)
}

// getGC: GET /system/gc/{gc_id} (system administrators).
func (s *Server) getGC(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.executionFor(r, "gc_id", gc.Kind, 0)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gcHistoryOf(e))
}

// getGCLog: GET /system/gc/{gc_id}/log (system administrators),
// text/plain; empty until the run starts (Harbor: 404 then).
func (s *Server) getGCLog(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.executionFor(r, "gc_id", gc.Kind, 0)
	if err != nil {
		return err
	}
	return s.writeJobLog(w, r, meta.LogExecution, e.ID)
}

// stopGC: PUT /system/gc/{gc_id} (system administrators): a Pending run
// stops at once, a Running one between two steps of its sweep (what it
// deleted stays deleted, the rest waits for the next run); a finished
// one is left as it is (200, as Harbor).
func (s *Server) stopGC(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.executionFor(r, "gc_id", gc.Kind, 0)
	if err != nil {
		return err
	}
	if err := s.opt.Jobs.Store.RequestStop(r.Context(), e.ID); err != nil {
		return err
	}
	s.record(r.Context(), r, "stop", "gc", strconv.FormatInt(e.ID, 10), nil)
	return ok(w)
}
