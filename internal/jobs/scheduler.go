package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// ScheduleSpec is what a caller sets: the schedule Name (unique: "gc",
// "purge_audit", "retention:12") enqueues Kind for VendorID with Params
// each time the Harbor schedule Type (and Cron, for Custom) comes round.
type ScheduleSpec struct {
	Name     string
	Kind     string
	VendorID int64
	Type     string // Hourly, Daily, Weekly, Custom
	Cron     string
	Params   any // kept as JSON, as Enqueue keeps it
	DryRun   bool
	// Jitter spreads schedules on one cron: each run is delayed by a fixed
	// offset derived from Name, within DefaultJitterWindow.
	Jitter bool
}

// SetSchedule validates spec (Harbor's rules: ErrBadCron) and creates or
// replaces the schedule; its first run is the next one after now.
func (q *Queue) SetSchedule(ctx context.Context, spec ScheduleSpec) (*meta.JobSchedule, error) {
	expr, err := CronOf(spec.Type, spec.Cron)
	if err != nil {
		return nil, err
	}
	if _, ok := q.kind(spec.Kind); !ok {
		return nil, ErrUnknownKind
	}
	p, err := encodeParams(spec.Params)
	if err != nil {
		return nil, err
	}
	typ := spec.Type
	if typ == ScheduleSchedule {
		typ = ScheduleCustom
	}
	j := &meta.JobSchedule{Name: spec.Name, Kind: spec.Kind, VendorID: spec.VendorID, Type: typ, Cron: expr,
		Params: p, DryRun: spec.DryRun}
	if spec.Jitter {
		j.Jitter = Jitter(spec.Name, expr, DefaultJitterWindow)
	}
	if j.NextRun, err = NextRun(expr, j.Jitter, time.Now()); err != nil {
		return nil, err
	}
	if err := q.Store.SetSchedule(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

// Schedule returns the schedule name (meta.ErrNotFound if there is none).
func (q *Queue) Schedule(ctx context.Context, name string) (*meta.JobSchedule, error) {
	return q.Store.GetSchedule(ctx, name)
}

// DeleteSchedule removes the schedule name; removing none is not an error
// (Harbor's "None" on a job without a schedule).
func (q *Queue) DeleteSchedule(ctx context.Context, name string) error {
	if err := q.Store.DeleteSchedule(ctx, name); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	return nil
}

// DefaultScheduleCheck is how often the Scheduler looks for due schedules.
const DefaultScheduleCheck = 5 * time.Second

// Scheduler fires due schedules. Every replica runs one; each run is
// fired by one of them only: the replica that moves the schedule's next
// run on (compare and set) enqueues the execution in the same
// transaction. A schedule whose runs were missed (every replica down)
// fires once, then continues from now.
type Scheduler struct {
	Queue *Queue
	Log   *slog.Logger
	// Every is how often due schedules are looked for (default 5s).
	Every time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Run fires due schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = DefaultScheduleCheck
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log().Warn("firing job schedules", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scheduler) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// scheduleBatch bounds the schedules one Tick fires.
const scheduleBatch = 100

// Tick fires the schedules due now and returns the executions it enqueued.
func (s *Scheduler) Tick(ctx context.Context) ([]int64, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now()
	due, err := s.Queue.Store.DueSchedules(ctx, t, scheduleBatch)
	if err != nil {
		return nil, err
	}
	var fired []int64
	var errs []error
	for _, j := range due {
		next, err := NextRun(j.Cron, j.Jitter, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		run := &meta.Execution{Kind: j.Kind, VendorID: j.VendorID, Trigger: meta.TriggerSchedule, Params: j.Params, DryRun: j.DryRun}
		ok, err := s.Queue.Store.Advance(ctx, j.Name, j.NextRun, next, run, s.Queue.Exclusive(j.Kind))
		switch {
		case err != nil:
			errs = append(errs, err)
		case !ok: // another replica fired it
		case run.ID == 0:
			s.log().Info("scheduled job skipped: one is still running", "schedule", j.Name, "kind", j.Kind)
		default:
			fired = append(fired, run.ID)
			s.log().Info("scheduled job enqueued", "schedule", j.Name, "kind", j.Kind, "execution", run.ID)
		}
	}
	if len(fired) > 0 {
		s.Queue.poke()
	}
	return fired, errors.Join(errs...)
}
