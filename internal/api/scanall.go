package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
)

// scanAllJob: Harbor's scan-all under /system/scanAll (schedule and
// stop; its runs are not listed there, /scans/*/metrics report them).
var scanAllJob = systemJob{path: "scanAll", schedule: scan.ScanAllSchedule, kind: scan.KindScanAll, resource: "scan_all",
	params: func(map[string]any) (any, bool, error) { return nil, false, nil }}

// getScanAllSchedule: GET /system/scanAll/schedule, Harbor's Schedule
// (type None when there is none).
func (s *Server) getScanAllSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	q, err := s.queue()
	if err != nil {
		return err
	}
	out := map[string]any{"schedule": scheduleObj{Type: "None"}, "parameters": map[string]any{}}
	j, err := q.Schedule(r.Context(), scan.ScanAllSchedule)
	if err == nil {
		next := harborTime(j.NextRun)
		out["schedule"] = scheduleObj{Type: j.Type, Cron: j.Cron, NextScheduledTime: &next}
		out["creation_time"], out["update_time"] = harborTime(j.CreatedAt), harborTime(j.UpdatedAt)
	} else if !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}
func (s *Server) createScanAllSchedule(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.scanner(); err != nil {
		return err
	}
	return s.createJobSchedule(w, r, &scanAllJob)
}
func (s *Server) updateScanAllSchedule(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.scanner(); err != nil {
		return err
	}
	return s.updateJobSchedule(w, r, &scanAllJob)
}

// latestScanAll is the newest scan-all run (of trigger, if not ""), nil
// if none.
func (s *Server) latestScanAll(r *http.Request, trigger string) (*meta.Execution, error) {
	q, err := s.queue()
	if err != nil {
		return nil, err
	}
	lq := meta.ListQuery{Page: meta.Page{Page: 1, Size: 1}}
	if trigger != "" {
		lq = lq.With(meta.Cond{Key: "trigger", Op: meta.Equal, Values: []string{trigger}})
	}
	list, _, err := q.Store.ListExecutions(r.Context(), meta.ExecutionQuery{Kind: scan.KindScanAll, ListQuery: lq})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return &list[0], nil
}

// stopScanAll: POST /system/scanAll/stop → 202; the running scan-all
// stops after the artifact it is on.
func (s *Server) stopScanAll(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.latestScanAll(r, "")
	if err != nil {
		return err
	}
	if e != nil && e.Active() {
		if err := s.opt.Jobs.Store.RequestStop(r.Context(), e.ID); err != nil {
			return err
		}
		s.record(r.Context(), r, "stop", "scan_all", strconv.FormatInt(e.ID, 10), nil)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// scanStats is Harbor's Stats.
type scanStats struct {
	Total     int            `json:"total"`
	Completed int            `json:"completed"`
	Metrics   map[string]int `json:"metrics"`
	Ongoing   bool           `json:"ongoing"`
	Trigger   string         `json:"trigger,omitempty"`
}

// statsOf is a scan-all run as Harbor's Stats.
func statsOf(e *meta.Execution) scanStats {
	st := scanStats{Metrics: map[string]int{}}
	if e == nil {
		return st
	}
	var res scan.ScanAllResult
	_ = json.Unmarshal([]byte(e.Result), &res)
	st.Total, st.Completed, st.Ongoing = res.Total, res.Completed, e.Active()
	st.Metrics["Success"], st.Metrics["Error"] = res.Success, res.Error
	if st.Ongoing {
		st.Metrics["Running"] = 1
	}
	switch e.Trigger {
	case meta.TriggerSchedule:
		st.Trigger = "Schedule"
	case meta.TriggerEvent:
		st.Trigger = "Event"
	default:
		st.Trigger = "Manual"
	}
	return st
}

// getLatestScanAllMetrics: GET /scans/all/metrics, the newest scan-all.
func (s *Server) getLatestScanAllMetrics(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.latestScanAll(r, "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, statsOf(e))
}

// getLatestScheduledScanAllMetrics: GET /scans/schedule/metrics, the
// newest scheduled scan-all.
func (s *Server) getLatestScheduledScanAllMetrics(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	e, err := s.latestScanAll(r, meta.TriggerSchedule)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, statsOf(e))
}
