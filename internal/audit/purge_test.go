package audit

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

func TestPurgeParams(t *testing.T) {
	known := []string{"pull_artifact", "push_artifact", "delete_artifact", "login_user", "create_project"}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p := PurgeParams{AuditRetentionHour: 48, IncludeEventTypes: " Create_Artifact, pull_artifact ,other", IncludeOperations: "create,pull"}
	if err := p.Validate(known); err != nil {
		t.Fatal(err)
	}
	sel := p.Selection(now)
	if !sel.Before.Equal(now.Add(-48*time.Hour)) || !slices.Equal(sel.EventTypes, []string{"create_artifact", "push_artifact", "pull_artifact"}) ||
		!sel.Others || !slices.Contains(sel.NotOthers, "push_artifact") || !slices.Equal(sel.Operations, []string{"create", "push", "pull"}) {
		t.Fatalf("selection = %+v", sel)
	}
	if !(PurgeParams{AuditRetentionHour: 1}).Selection(now).Empty() {
		t.Fatal("no event types should select nothing")
	}
	for _, bad := range []PurgeParams{
		{AuditRetentionHour: MaxRetentionHour + 1, IncludeEventTypes: "pull_artifact"},
		{AuditRetentionHour: -2, IncludeEventTypes: "pull_artifact"},
		{AuditRetentionHour: 1, IncludeEventTypes: "pull_artifact,nap_time"},
		{AuditRetentionHour: 1, IncludeOperations: "login"},
	} {
		if err := bad.Validate(known); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
	for _, good := range []PurgeParams{{AuditRetentionHour: -1}, {AuditRetentionHour: 0}, {AuditRetentionHour: MaxRetentionHour, IncludeEventTypes: "logout_user"}} {
		if err := good.Validate(known); err != nil {
			t.Errorf("Validate(%+v) = %v", good, err)
		}
	}
}

// stoppingStore asks for the execution's stop after its first batch, and
// then waits long enough for a heartbeat to carry the request.
type stoppingStore struct {
	*sqlstore.Store
	batches int
}

func (s *stoppingStore) PurgeAudit(ctx context.Context, p meta.AuditPurge, limit int) (int64, error) {
	n, err := s.Store.PurgeAudit(ctx, p, limit)
	s.batches++
	if s.batches == 1 {
		list, _, _ := s.Store.ListExecutions(ctx, meta.ExecutionQuery{Kind: PurgeKind})
		for _, e := range list {
			_ = s.Store.RequestStop(ctx, e.ID)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return n, err
}

// TestPurgeBatchesAndStop: the purge deletes in batches and honours a
// stop between them, recording what it deleted so far.
func TestPurgeBatchesAndStop(t *testing.T) {
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	recs := make([]meta.AuditRecord, 0, 2500)
	for range 2500 {
		recs = append(recs, meta.AuditRecord{At: time.Now().Add(-100 * time.Hour), Username: "u", Operation: "pull", ResourceType: "artifact", Resource: "p/r:t", Success: true})
	}
	if err := st.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	run := func(store meta.AuditPurger) *meta.Execution {
		q := jobs.NewQueue(st, "r1", slog.New(slog.NewTextHandler(io.Discard, nil)))
		q.TTL, q.Heartbeat, q.Poll = time.Second, 50*time.Millisecond, 20*time.Millisecond
		q.Register(PurgeKind, Purge(store), jobs.Exclusive())
		qctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { q.Run(qctx); close(done) }()
		defer func() { cancel(); <-done }()
		id, err := q.Enqueue(ctx, PurgeKind, 0, meta.TriggerManual, PurgeParams{AuditRetentionHour: 1, IncludeEventTypes: "pull_artifact"}, false)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if e, _ := st.GetExecution(ctx, id); !e.Active() {
				return e
			}
		}
		t.Fatal("the purge did not end")
		return nil
	}
	e := run(&stoppingStore{Store: st})
	if e.Status != meta.JobStopped || e.Result != `{"purged":1000}` {
		t.Fatalf("stopped purge = %s %q", e.Status, e.Result)
	}
	if l, _ := st.ReadLog(ctx, meta.LogExecution, e.ID); !strings.Contains(l, "stopped after purging 1000 audit log records") {
		t.Fatalf("log = %q", l)
	}
	e = run(st)
	if e.Status != meta.JobSuccess || e.Result != `{"purged":1500}` {
		t.Fatalf("second purge = %s %q", e.Status, e.Result)
	}
	if n, _ := st.CountAudit(ctx, meta.AuditPurge{Before: time.Now(), Others: true}); n != 0 {
		t.Fatalf("%d records left", n)
	}
}
