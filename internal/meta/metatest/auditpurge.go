package metatest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// AuditPurgeStore is what the audit purge suite needs.
type AuditPurgeStore interface {
	meta.AccessStore
	meta.AuditPurger
}

// RunAuditPurge is the suite for meta.AuditPurger. open returns a fresh,
// empty store (and arranges its own cleanup).
func RunAuditPurge(t *testing.T, open func(t *testing.T) AuditPurgeStore) {
	t.Run("SelectAndBatch", func(t *testing.T) { testAuditPurge(t, open(t)) })
}

func testAuditPurge(t *testing.T, s AuditPurgeStore) {
	ctx := context.Background()
	old, recent := time.Now().Add(-48*time.Hour), time.Now().Add(-time.Minute)
	var recs []meta.AuditRecord
	add := func(at time.Time, op, rt, res string) {
		recs = append(recs, meta.AuditRecord{At: at, Username: "u", Operation: op, ResourceType: rt, Resource: res, Success: true})
	}
	for i := range 5 {
		add(old.Add(time.Duration(i)*time.Second), "pull", "artifact", "p/r:pull")
	}
	add(old, "push", "artifact", "p/r:push")
	add(old, "delete", "artifact", "p/r:del")
	add(old, "login", "user", "alice")
	add(old, "create", "project", "p")
	add(recent, "pull", "artifact", "p/r:recent")
	add(recent, "login", "user", "bob")
	noErr(t, s.AppendAudit(ctx, recs))
	before := time.Now().Add(-time.Hour)
	remaining := func() []string {
		t.Helper()
		list, _, err := s.ListAudit(ctx, meta.AuditQuery{ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 100}}})
		noErr(t, err)
		var out []string
		for _, r := range list {
			out = append(out, r.Resource)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	count := func(p meta.AuditPurge) int64 {
		t.Helper()
		n, err := s.CountAudit(ctx, p)
		noErr(t, err)
		return n
	}
	if n := count(meta.AuditPurge{Before: before}); n != 0 {
		t.Fatalf("an empty selection counts %d", n)
	}
	if n, err := s.PurgeAudit(ctx, meta.AuditPurge{Before: before}, 100); n != 0 || err != nil {
		t.Fatalf("an empty selection purged %d, %v", n, err)
	}
	if n := count(meta.AuditPurge{Before: before, EventTypes: []string{"pull_artifact"}}); n != 5 {
		t.Fatalf("pull_artifact before: %d, want 5", n)
	}
	if n := count(meta.AuditPurge{Before: before, Operations: []string{"pull", "push"}}); n != 6 {
		t.Fatalf("operations pull, push: %d, want 6", n)
	}
	if n := count(meta.AuditPurge{Before: before, Others: true, NotOthers: []string{"pull_artifact", "push_artifact", "delete_artifact"}}); n != 2 {
		t.Fatalf("others: %d, want 2 (login, create project)", n)
	}
	if n := count(meta.AuditPurge{Before: before, Others: true}); n != 9 {
		t.Fatalf("everything before: %d, want 9", n)
	}
	// Batches of 2: 5 pulls go in 2+2+1.
	p := meta.AuditPurge{Before: before, EventTypes: []string{"pull_artifact"}}
	var batches []int64
	for {
		n, err := s.PurgeAudit(ctx, p, 2)
		noErr(t, err)
		batches = append(batches, n)
		if n < 2 {
			break
		}
	}
	if !slices.Equal(batches, []int64{2, 2, 1}) {
		t.Fatalf("batches %v, want [2 2 1]", batches)
	}
	if got := remaining(); !slices.Equal(got, []string{"alice", "bob", "p", "p/r:del", "p/r:push", "p/r:recent"}) {
		t.Fatalf("after purging old pulls: %v", got)
	}
	n, err := s.PurgeAudit(ctx, meta.AuditPurge{Before: before, Others: true, NotOthers: []string{"push_artifact", "delete_artifact", "pull_artifact"}}, 100)
	noErr(t, err)
	if n != 2 {
		t.Fatalf("purged %d others, want 2", n)
	}
	if got := remaining(); !slices.Equal(got, []string{"bob", "p/r:del", "p/r:push", "p/r:recent"}) {
		t.Fatalf("after purging others: %v", got)
	}
}
