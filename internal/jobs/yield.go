package jobs

import (
	"cmp"
	"context"
	"sync/atomic"
	"time"
)

// Yield lets background kinds give way to foreground writes (pushes):
// their executions are claimed only once no foreground write has ended
// for Quiet. On SQLite every write, a scan's included, waits for the one
// writer; a scan started between two pushes of a burst makes the second
// wait. Under writes that never pause, a kind still gets Grant out of
// every MaxWait+Grant, so it is slowed, never starved.
//
// Touch is called at the end of each foreground write; it costs an atomic
// store.
type Yield struct {
	Quiet   time.Duration // 0: DefaultQuiet
	MaxWait time.Duration // 0: DefaultMaxWait
	Grant   time.Duration // 0: DefaultGrant

	last        atomic.Int64 // unix ns of the last foreground write's end
	closedSince atomic.Int64 // unix ns since which it has been closed; 0: open
	grantUntil  atomic.Int64 // unix ns: open until then, quiet or not
}

// Yield defaults.
const (
	DefaultQuiet   = 25 * time.Millisecond
	DefaultMaxWait = 2 * time.Second
	DefaultGrant   = 500 * time.Millisecond
)

// Touch records a foreground write that just ended.
func (y *Yield) Touch() { y.last.Store(time.Now().UnixNano()) }

// open reports whether background work may start at now, and if not,
// how long to wait before asking again.
func (y *Yield) open(now time.Time) (bool, time.Duration) {
	quiet, maxWait, grant := cmp.Or(y.Quiet, DefaultQuiet), cmp.Or(y.MaxWait, DefaultMaxWait), cmp.Or(y.Grant, DefaultGrant)
	t := now.UnixNano()
	if t < y.grantUntil.Load() {
		return true, 0
	}
	idle := time.Duration(t - y.last.Load())
	if idle >= quiet {
		y.closedSince.Store(0)
		return true, 0
	}
	since := y.closedSince.Load()
	if since == 0 {
		y.closedSince.CompareAndSwap(0, t)
		since = y.closedSince.Load()
	}
	if time.Duration(t-since) >= maxWait {
		y.grantUntil.Store(t + int64(grant))
		y.closedSince.Store(0)
		return true, 0
	}
	return false, quiet - idle
}

// Wait returns when background work may go on (see open), or when ctx
// ends. A long job calls it between its items; a nil Yield never waits.
func (y *Yield) Wait(ctx context.Context) error {
	if y == nil {
		return ctx.Err()
	}
	for {
		ok, wait := y.open(time.Now())
		if ok {
			return ctx.Err()
		}
		t := time.NewTimer(max(wait, minYieldWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// YieldTo makes a kind's executions wait for y (see Yield).
func YieldTo(y *Yield) Option { return func(c *kindConfig) { c.yield = y } }
