package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/berth-registry/berth/internal/gc"
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

// gcJob: Harbor's garbage collection under /system/gc. A stop takes
// effect between two steps of the sweep (what it deleted stays deleted,
// the rest waits for the next run).
var gcJob = systemJob{path: "gc", idParam: "gc_id", schedule: gc.Schedule, kind: gc.Kind, resource: "gc",
	params: func(m map[string]any) (any, bool, error) {
		p, keep, err := gcParams(m)
		return keep, p.DryRun, err
	},
	history: gcHistoryOf}

// The operations of tag "gc" (routes_gc.go).
func (s *Server) getGCHistory(w http.ResponseWriter, r *http.Request) error {
	return s.listJobRuns(w, r, &gcJob)
}
func (s *Server) getGCSchedule(w http.ResponseWriter, r *http.Request) error {
	return s.getJobSchedule(w, r, &gcJob)
}
func (s *Server) createGCSchedule(w http.ResponseWriter, r *http.Request) error {
	return s.createJobSchedule(w, r, &gcJob)
}
func (s *Server) updateGCSchedule(w http.ResponseWriter, r *http.Request) error {
	return s.updateJobSchedule(w, r, &gcJob)
}
func (s *Server) getGC(w http.ResponseWriter, r *http.Request) error {
	return s.getJobRun(w, r, &gcJob)
}
func (s *Server) getGCLog(w http.ResponseWriter, r *http.Request) error {
	return s.getJobRunLog(w, r, &gcJob)
}
func (s *Server) stopGC(w http.ResponseWriter, r *http.Request) error {
	return s.stopJobRun(w, r, &gcJob)
}
