package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// PurgeKind is the job kind of Harbor's audit log purge, and
// PurgeSchedule the name of its schedule. While the schedule exists it
// replaces the fixed --audit-retention-days pruning.
const (
	PurgeKind     = "purge_audit"
	PurgeSchedule = "purge_audit"
)

// MaxRetentionHour is Harbor's cap on audit_retention_hour.
const MaxRetentionHour = 240000

// purgeBatch is how many records one statement deletes.
const purgeBatch = 1000

// PurgeParams are Harbor's purge job parameters, kept (as JSON, in this
// order, which is also Harbor's sorted order) as the execution's
// job_parameters. IncludeEventTypes (Harbor 2.13+) lists event types
// "<operation>_<resource_type>", or "other" for every type but the
// artifact ones; IncludeOperations (Harbor before 2.13) lists operations
// among create, delete and pull.
type PurgeParams struct {
	AuditRetentionHour int    `json:"audit_retention_hour"`
	DryRun             bool   `json:"dry_run"`
	IncludeEventTypes  string `json:"include_event_types,omitempty"`
	IncludeOperations  string `json:"include_operations,omitempty"`
}

// OtherEvents in include_event_types stands for every event type but the
// artifact ones (Harbor's "other").
const OtherEvents = "other"

// artifactEvents are the event types "other" leaves out. Harbor names a
// push create_artifact; berth records it as push_artifact (and a copy as
// a push), so create_artifact purges those.
var artifactEvents = []string{"create_artifact", "push_artifact", "delete_artifact", "pull_artifact"}

// legacyOperations are the operations Harbor's include_operations knew;
// berth records Harbor's "create" of an artifact as a push.
var legacyOperations = map[string][]string{"create": {"create", "push"}, "delete": {"delete"}, "pull": {"pull"}}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Selection is what p purges at now. Event types are taken as they are
// (Validate checks them); the legacy operations are mapped to berth's.
func (p PurgeParams) Selection(now time.Time) meta.AuditPurge {
	sel := meta.AuditPurge{Before: now.Add(-time.Duration(p.AuditRetentionHour) * time.Hour)}
	for _, e := range splitList(p.IncludeEventTypes) {
		switch e {
		case OtherEvents:
			sel.Others, sel.NotOthers = true, artifactEvents
		case "create_artifact":
			sel.EventTypes = append(sel.EventTypes, "create_artifact", "push_artifact")
		default:
			sel.EventTypes = append(sel.EventTypes, e)
		}
	}
	for _, o := range splitList(p.IncludeOperations) {
		sel.Operations = append(sel.Operations, legacyOperations[o]...)
	}
	return sel
}

// Validate checks p as Harbor does, and a little more: a retention of
// at most MaxRetentionHour, -1 or 0 meaning "purge nothing" (Harbor's
// job quits), no other negative; event types among known (the types
// berth records), Harbor's names of them and "other"; operations among
// create, delete and pull. Harbor drops unknown ones silently.
func (p PurgeParams) Validate(known []string) error {
	if p.AuditRetentionHour > MaxRetentionHour {
		return fmt.Errorf("audit_retention_hour should be less than %d", MaxRetentionHour)
	}
	if p.AuditRetentionHour < -1 {
		return fmt.Errorf("audit_retention_hour %d: want a number of hours (0 or -1: purge nothing)", p.AuditRetentionHour)
	}
	for _, e := range splitList(p.IncludeEventTypes) {
		if e != OtherEvents && e != "logout_user" && !slices.Contains(artifactEvents, e) && !slices.Contains(known, e) {
			return fmt.Errorf("include_event_types: unknown event type %q (see GET /auditlog-exts/events; %q is all but the artifact ones)", e, OtherEvents)
		}
	}
	for _, o := range splitList(p.IncludeOperations) {
		if _, ok := legacyOperations[o]; !ok {
			return fmt.Errorf("include_operations: %q is not create, delete or pull", o)
		}
	}
	return nil
}

// Purge is the handler of the purge job: it deletes the selected records
// in batches, logging the counts, until none is left or a stop is asked
// for; a dry run only counts them. The result is {"purged": n} (or
// {"would_purge": n} for a dry run). Run again after a crash, it simply
// deletes what is still there.
func Purge(store meta.AuditPurger) jobs.Handler {
	return func(ctx context.Context, run *jobs.Run) error {
		var p PurgeParams
		if err := run.Params(&p); err != nil {
			return fmt.Errorf("reading the job parameters: %w", err)
		}
		run.Log("purge audit job start: audit_retention_hour=%d include_event_types=%q include_operations=%q dry_run=%v",
			p.AuditRetentionHour, p.IncludeEventTypes, p.IncludeOperations, p.DryRun)
		if p.AuditRetentionHour <= 0 {
			run.Log("audit_retention_hour is %d: nothing to purge", p.AuditRetentionHour)
			return run.SetResult(map[string]int64{"purged": 0})
		}
		sel := p.Selection(time.Now())
		if sel.Empty() {
			run.Log("no event type selected: nothing to purge")
			return run.SetResult(map[string]int64{"purged": 0})
		}
		run.Log("purging the records before %s", sel.Before.UTC().Format(time.RFC3339))
		if p.DryRun {
			n, err := store.CountAudit(ctx, sel)
			if err != nil {
				return err
			}
			run.Log("[DRYRUN] %d audit log records would be purged", n)
			return run.SetResult(map[string]int64{"would_purge": n})
		}
		var total int64
		for batches := 1; ; batches++ {
			if run.StopRequested() {
				run.Log("stopped after purging %d audit log records", total)
				return run.SetResult(map[string]int64{"purged": total})
			}
			n, err := store.PurgeAudit(ctx, sel, purgeBatch)
			total += n
			if err != nil && run.StopRequested() {
				continue // reported at the top of the loop
			}
			if err != nil {
				run.Log("purged %d audit log records before the error", total)
				_ = run.SetResult(map[string]int64{"purged": total})
				return err
			}
			if n < purgeBatch {
				break
			}
			if batches%10 == 0 {
				run.Log("purged %d audit log records so far", total)
			}
		}
		run.Log("purged %d audit log records", total)
		return run.SetResult(map[string]int64{"purged": total})
	}
}
