package replication

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// TestPolicySchedule: a scheduled policy has a job schedule of its own
// while enabled; disabling it, changing its trigger or deleting it
// removes the schedule. A policy with a run in progress cannot go.
func TestPolicySchedule(t *testing.T) {
	ctx := context.Background()
	rs, store := newRegistries(t)
	q := jobs.NewQueue(store, "test", nil)
	e := &Engine{Registries: rs, Store: store, Jobs: q}
	e.Register(q)
	reg := &Registry{Name: "dr", Type: TypeDockerRegistry, URL: "http://127.0.0.1:1"}
	if err := rs.Create(ctx, reg); err != nil {
		t.Fatal(err)
	}
	p := &Policy{Name: "nightly", DestRegistry: reg.ID, Enabled: true,
		Trigger: &Trigger{Type: TriggerScheduled, TriggerSettings: &TriggerSettings{Cron: "0 30 2 * * *"}}}
	if err := e.CreatePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	s, err := q.Schedule(ctx, scheduleName(p.ID))
	if err != nil || s.Cron != "0 30 2 * * *" || s.Kind != Kind || s.VendorID != p.ID {
		t.Fatalf("schedule: %v %+v", err, s)
	}
	p.Enabled = false
	if err := e.UpdatePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Schedule(ctx, scheduleName(p.ID)); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("disabled policy's schedule: %v", err)
	}
	p.Enabled = true
	if err := e.UpdatePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start(ctx, p.ID, meta.TriggerManual, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.DeletePolicy(ctx, p.ID); !errors.Is(err, ErrActive) {
		t.Errorf("delete with a pending run: %v", err)
	}
	p.SingleActiveReplication = true
	if err := e.UpdatePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start(ctx, p.ID, meta.TriggerManual, nil); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("second run of a single_active_replication policy: %v", err)
	}
	got, err := e.Policy(ctx, p.ID)
	if err != nil || got.TriggerType() != TriggerScheduled || !got.SingleActiveReplication || got.DestRegistry != reg.ID {
		t.Errorf("policy read back: %v %+v", err, got)
	}
}
