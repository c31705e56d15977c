package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// Kind is the job kind of replication executions; their vendor is the
// policy.
const Kind = "replication"

// ErrActive: the policy has executions in progress (Harbor's 412 on
// delete).
var ErrActive = errors.New("the policy has executions in progress")

// scheduleName is the job schedule of policy id's scheduled trigger.
func scheduleName(id int64) string { return "replication:" + strconv.FormatInt(id, 10) }

func (e *Engine) row(p *Policy) (*meta.ReplicationPolicy, error) {
	text, err := p.text()
	if err != nil {
		return nil, err
	}
	return &meta.ReplicationPolicy{ID: p.ID, Name: p.Name, SrcRegistryID: p.SrcRegistry, DestRegistryID: p.DestRegistry,
		Enabled: p.Enabled, Policy: text}, nil
}

func policyOf(m *meta.ReplicationPolicy) (*Policy, error) {
	p := &Policy{}
	if err := json.Unmarshal([]byte(m.Policy), p); err != nil {
		return nil, fmt.Errorf("replication policy %d: %w", m.ID, err)
	}
	p.ID, p.Name, p.SrcRegistry, p.DestRegistry, p.Enabled = m.ID, m.Name, m.SrcRegistryID, m.DestRegistryID, m.Enabled
	p.CreatedAt, p.UpdatedAt = m.CreatedAt, m.UpdatedAt
	return p, nil
}

// CreatePolicy validates and adds p, with its schedule; ErrInvalid,
// meta.ErrConflict (name taken), meta.ErrNotFound (no such registry).
func (e *Engine) CreatePolicy(ctx context.Context, p *Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	m, err := e.row(p)
	if err != nil {
		return err
	}
	if err := e.Store.CreateReplicationPolicy(ctx, m); err != nil {
		return err
	}
	p.ID, p.CreatedAt, p.UpdatedAt = m.ID, m.CreatedAt, m.UpdatedAt
	return e.schedule(ctx, p)
}

// Policy returns policy id; meta.ErrNotFound if none.
func (e *Engine) Policy(ctx context.Context, id int64) (*Policy, error) {
	m, err := e.Store.ReplicationPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	return policyOf(m)
}

// Policies lists policies (keys: see meta.RegistryStore).
func (e *Engine) Policies(ctx context.Context, q meta.ListQuery) ([]Policy, int64, error) {
	rows, total, err := e.Store.ListReplicationPolicies(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Policy, 0, len(rows))
	for i := range rows {
		p, err := policyOf(&rows[i])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *p)
	}
	return out, total, nil
}

// UpdatePolicy validates and saves p, and its schedule.
func (e *Engine) UpdatePolicy(ctx context.Context, p *Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	m, err := e.row(p)
	if err != nil {
		return err
	}
	if err := e.Store.UpdateReplicationPolicy(ctx, m); err != nil {
		return err
	}
	p.UpdatedAt = m.UpdatedAt
	return e.schedule(ctx, p)
}

// DeletePolicy removes policy id and its schedule; ErrActive while one of
// its executions is in progress.
func (e *Engine) DeletePolicy(ctx context.Context, id int64) error {
	if active, err := e.active(ctx, id, 0); err != nil {
		return err
	} else if active {
		return ErrActive
	}
	if err := e.Store.DeleteReplicationPolicy(ctx, id); err != nil {
		return err
	}
	e.forget()
	return e.Jobs.DeleteSchedule(ctx, scheduleName(id))
}

// active reports whether policy id has an execution in progress other
// than except.
func (e *Engine) active(ctx context.Context, id, except int64) (bool, error) {
	list, _, err := e.Jobs.Store.ListExecutions(ctx, meta.ExecutionQuery{Kind: Kind, VendorID: id,
		ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 2}}.
			With(meta.Cond{Key: "status", Op: meta.AnyOf, Values: []string{meta.JobPending, meta.JobRunning}})})
	if err != nil {
		return false, err
	}
	for _, x := range list {
		if x.ID != except {
			return true, nil
		}
	}
	return false, nil
}

// schedule sets or removes p's job schedule (and drops the cached
// event_based policies).
func (e *Engine) schedule(ctx context.Context, p *Policy) error {
	e.forget()
	if !p.Enabled || p.TriggerType() != TriggerScheduled {
		return e.Jobs.DeleteSchedule(ctx, scheduleName(p.ID))
	}
	_, err := e.Jobs.SetSchedule(ctx, jobs.ScheduleSpec{Name: scheduleName(p.ID), Kind: Kind, VendorID: p.ID,
		Type: jobs.ScheduleCustom, Cron: p.Trigger.TriggerSettings.Cron})
	return err
}

// Start enqueues a run of policy id (trigger meta.TriggerManual, …) and
// returns its execution id. With single_active_replication it is
// meta.ErrConflict while another run is in progress.
func (e *Engine) Start(ctx context.Context, id int64, trigger string, ev *EventParams) (int64, error) {
	p, err := e.Policy(ctx, id)
	if err != nil {
		return 0, err
	}
	params := execParams{Event: ev}
	if !p.SingleActiveReplication {
		return e.Jobs.Enqueue(ctx, Kind, id, trigger, params, false)
	}
	if active, err := e.active(ctx, id, 0); err != nil {
		return 0, err
	} else if active {
		return 0, meta.ErrConflict
	}
	// Enqueued exclusive as well: two starts racing each other conflict.
	// (Without the queue's poke, a worker sees it at its next poll.)
	text, err := json.Marshal(params)
	if err != nil {
		return 0, err
	}
	x := &meta.Execution{Kind: Kind, VendorID: id, Trigger: trigger, Params: string(text)}
	if err := e.Jobs.Store.Enqueue(ctx, x, true); err != nil {
		return 0, err
	}
	return x.ID, nil
}

// Stop asks execution id to stop.
func (e *Engine) Stop(ctx context.Context, id int64) error {
	return e.Jobs.Store.RequestStop(ctx, id)
}
