package app

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/quota"
)

// quotaEvent delivers a quota event (internal/quota): a warning in the
// log, an audit record in the project's log, by who pushed, and Harbor's
// QUOTA_WARNING or QUOTA_EXCEED on the event bus (webhooks); Detail is
// the quota.Event.
func (a *access) quotaEvent(ev quota.Event) {
	a.log.Warn("quota event", "type", string(ev.Type), "project", ev.Project, "repository", ev.Repo,
		"digest", string(ev.Digest), "user", ev.Operator, "message", ev.Message)
	resource := ev.Project + ": " + ev.Message
	var rec meta.AuditRecord
	switch ev.Type {
	case quota.Warning:
		rec = meta.AuditRecord{Username: ev.Operator, Operation: "warning", ResourceType: "quota", Resource: resource, Success: true}
	case quota.Exceed: // a push refused (the refusal is what is recorded: a success)
		rec = meta.AuditRecord{Username: ev.Operator, Operation: "exceed", ResourceType: "quota", Resource: resource, Success: true}
	default:
		return
	}
	kind := events.QuotaWarning
	if ev.Type == quota.Exceed {
		kind = events.QuotaExceed
	}
	a.events.Publish(context.Background(), events.Event{Type: kind, At: ev.At, Operator: ev.Operator, Project: ev.Project,
		Repo: ev.Repo, Digest: ev.Digest, Detail: ev})
	rec.At, rec.Project = ev.At, ev.Project
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p, err := a.store.GetProjectByName(ctx, ev.Project); err == nil {
		rec.ProjectID = p.ID
	}
	a.sink.Record(rec)
}
