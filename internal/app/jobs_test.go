package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// TestPurgeScheduleReplacesRetention: --audit-retention-days prunes the
// audit log while no purge schedule is set, and not once one is.
func TestPurgeScheduleReplacesRetention(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := newQueue(st, "r1", nil, log)
	acc := &access{store: st, retention: 24 * time.Hour, log: log}
	old := func() int64 {
		t.Helper()
		if err := st.AppendAudit(ctx, []meta.AuditRecord{{At: time.Now().Add(-48 * time.Hour), Username: "u", Operation: "pull",
			ResourceType: "artifact", Resource: "p/r:t", Success: true}}); err != nil {
			t.Fatal(err)
		}
		_, n, err := st.ListAudit(ctx, meta.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := q.SetSchedule(ctx, jobs.ScheduleSpec{Name: audit.PurgeSchedule, Kind: audit.PurgeKind, Type: jobs.ScheduleDaily,
		Params: audit.PurgeParams{AuditRetentionHour: 1000, IncludeEventTypes: "pull_artifact"}}); err != nil {
		t.Fatal(err)
	}
	old()
	if err := acc.pruneAudit(ctx, purgeScheduled(q)); err != nil {
		t.Fatal(err)
	}
	if n := old(); n != 2 {
		t.Fatalf("with a purge schedule the flag's retention pruned: %d records left, want 2", n)
	}
	if err := q.DeleteSchedule(ctx, audit.PurgeSchedule); err != nil {
		t.Fatal(err)
	}
	if err := acc.pruneAudit(ctx, purgeScheduled(q)); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := st.ListAudit(ctx, meta.AuditQuery{}); n != 0 {
		t.Fatalf("without a schedule: %d records left, want 0", n)
	}
}
