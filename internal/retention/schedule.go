package retention

import (
	"context"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
)

// Schedule sets the schedule of policy id to its cron expression, or
// removes it when cron is "" (the policy runs when asked only). Each run
// starts at an offset after the cron's time fixed by the policy (within
// jobs.DefaultJitterWindow, and half the cron's period), so that the
// policies of many projects on one cron are not all started in the same
// second (Harbor's complaint #17109).
func Schedule(ctx context.Context, q *jobs.Queue, id int64, cron string) error {
	if cron == "" {
		return q.DeleteSchedule(ctx, ScheduleName(id))
	}
	_, err := q.SetSchedule(ctx, jobs.ScheduleSpec{Name: ScheduleName(id), Kind: JobKind, VendorID: id,
		Type: jobs.ScheduleCustom, Cron: cron, Jitter: true})
	return err
}

// NextRun is when the schedule of policy id runs next (zero if it has
// none).
func NextRun(ctx context.Context, q *jobs.Queue, id int64) (time.Time, error) {
	j, err := q.Schedule(ctx, ScheduleName(id))
	if errors.Is(err, meta.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return j.NextRun, nil
}
