package api

import (
	"math"
	"net/http"

	"github.com/berth-registry/berth/internal/audit"
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

// purgeJob: Harbor's audit-log purge under /system/purgeaudit (berth
// runs one at a time: 409 while one is active). Its schedule replaces
// the fixed --audit-retention-days pruning; a stop takes effect at the
// next batch.
var purgeJob = systemJob{path: "purgeaudit", idParam: "purge_id", schedule: audit.PurgeSchedule, kind: audit.PurgeKind,
	resource: "purge_audit",
	params: func(m map[string]any) (any, bool, error) {
		p, err := purgeParams(m)
		return p, p.DryRun, err
	},
	history: func(e *meta.Execution) execHistory { return execHistoryOf(e, purgeJobName) }}

// The operations of tag "purge" (routes_purgeaudit.go).
func (s *Server) getPurgeHistory(w http.ResponseWriter, r *http.Request) error {
	return s.listJobRuns(w, r, &purgeJob)
}
func (s *Server) getPurgeSchedule(w http.ResponseWriter, r *http.Request) error {
	return s.getJobSchedule(w, r, &purgeJob)
}
func (s *Server) createPurgeSchedule(w http.ResponseWriter, r *http.Request) error {
	return s.createJobSchedule(w, r, &purgeJob)
}
func (s *Server) updatePurgeSchedule(w http.ResponseWriter, r *http.Request) error {
	return s.updateJobSchedule(w, r, &purgeJob)
}
func (s *Server) getPurgeJob(w http.ResponseWriter, r *http.Request) error {
	return s.getJobRun(w, r, &purgeJob)
}
func (s *Server) getPurgeJobLog(w http.ResponseWriter, r *http.Request) error {
	return s.getJobRunLog(w, r, &purgeJob)
}
func (s *Server) stopPurge(w http.ResponseWriter, r *http.Request) error {
	return s.stopJobRun(w, r, &purgeJob)
}
