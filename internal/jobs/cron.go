package jobs

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Harbor's schedule types (the type of its ScheduleObj).
const (
	ScheduleHourly = "Hourly"
	ScheduleDaily  = "Daily"
	ScheduleWeekly = "Weekly"
	ScheduleCustom = "Custom"
	// ScheduleManual runs once, now; it is not kept as a schedule.
	ScheduleManual = "Manual"
	// ScheduleNone removes the schedule.
	ScheduleNone = "None"
	// ScheduleSchedule is in Harbor's enum too ("trigger it by a specified
	// cron"): a Custom schedule.
	ScheduleSchedule = "Schedule"
)

// The cron expressions of the fixed types, as Harbor's UI sends them.
const (
	CronHourly = "0 0 * * * *"
	CronDaily  = "0 0 0 * * *"
	CronWeekly = "0 0 0 * * 0"
)

// cronParser reads Harbor's cron: six fields, the first the seconds, or
// a descriptor (@daily, @every 1h).
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ErrBadCron wraps every error of ValidateCron and CronOf.
var ErrBadCron = errors.New("invalid cron")

// ValidateCron checks expr as Harbor does (ValidateCronString): it must
// parse, and with six fields the seconds field must be "0" (a schedule
// runs at most once a minute).
func ValidateCron(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return fmt.Errorf("%w: empty cron string", ErrBadCron)
	}
	if _, err := cronParser.Parse(expr); err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadCron, expr, err)
	}
	if f := strings.Fields(expr); len(f) == 6 && f[0] != "0" {
		return fmt.Errorf("%w %q: the 1st field (seconds) must be 0", ErrBadCron, expr)
	}
	return nil
}

// CronOf is the cron expression of a schedule of type typ: the fixed one
// of Hourly, Daily and Weekly, expr (validated) for Custom. Manual and
// None are not kept schedules, and any other type is an error.
func CronOf(typ, expr string) (string, error) {
	switch typ {
	case ScheduleHourly:
		return CronHourly, nil
	case ScheduleDaily:
		return CronDaily, nil
	case ScheduleWeekly:
		return CronWeekly, nil
	case ScheduleCustom, ScheduleSchedule:
		if err := ValidateCron(expr); err != nil {
			return "", err
		}
		return expr, nil
	}
	return "", fmt.Errorf("%w: schedule type %q is not Hourly, Daily, Weekly or Custom", ErrBadCron, typ)
}

// NextRun is the first run of expr, delayed by jitter, strictly after
// after: a run of the expression at t happens at t+jitter.
func NextRun(expr string, jitter time.Duration, after time.Time) (time.Time, error) {
	sch, err := cronParser.Parse(expr)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w %q: %v", ErrBadCron, expr, err)
	}
	next := sch.Next(after.Add(-jitter))
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("%w %q: it never runs", ErrBadCron, expr)
	}
	// Milliseconds are what the store keeps.
	return next.Add(jitter).Truncate(time.Millisecond), nil
}

// DefaultJitterWindow is the window Jitter spreads schedules over.
const DefaultJitterWindow = 5 * time.Minute

// Jitter is a fixed delay for the schedule name, derived from a hash of
// the name, within window and within half of the expression's period (so
// that a run never slips past the next one): many schedules on one cron
// (retention policies at midnight) then start spread over the window.
func Jitter(name, expr string, window time.Duration) time.Duration {
	sch, err := cronParser.Parse(expr)
	if err != nil || window <= 0 {
		return 0
	}
	t0 := sch.Next(time.Unix(0, 0).UTC())
	if period := sch.Next(t0).Sub(t0); period/2 < window {
		window = period / 2
	}
	if window < time.Second {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64()%uint64(window/time.Second)) * time.Second
}
