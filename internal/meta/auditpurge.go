package meta

import (
	"context"
	"time"
)

// AuditPurge selects the audit records a purge removes: those older than
// Before whose event type ("<operation>_<resource_type>") is one of
// EventTypes, or whose operation is one of Operations, or, with Others,
// whose event type is none of NotOthers. Nothing else matches: an empty
// selection purges nothing.
type AuditPurge struct {
	Before     time.Time
	EventTypes []string
	Operations []string
	Others     bool
	NotOthers  []string
}

// Empty reports whether p selects no event at all.
func (p AuditPurge) Empty() bool {
	return len(p.EventTypes) == 0 && len(p.Operations) == 0 && !p.Others
}

// AuditPurger purges the audit log selectively (Harbor's purge audit
// job), in bounded batches.
type AuditPurger interface {
	// PurgeAudit deletes up to limit records p selects, oldest first, and
	// returns how many it deleted.
	PurgeAudit(ctx context.Context, p AuditPurge, limit int) (int64, error)
	// CountAudit counts the records p selects (a dry run).
	CountAudit(ctx context.Context, p AuditPurge) (int64, error)
}
