// Package quota holds the rules of project storage quotas around the
// store's exact accounting (meta/quota.go says what counts; sqlstore keeps
// and enforces it in the transactions that link): the limits an
// administrator may set, Harbor's messages, and the events a change of
// usage causes — QUOTA_WARNING when a push takes a project to 85 % of its
// limit, QUOTA_EXCEED when one is refused.
//
// There is no event bus yet: a Notifier hands events to one function (berth
// serve logs them and writes an audit record). The webhook capability will
// deliver them as Harbor's QUOTA_WARNING and QUOTA_EXCEED notifications.
package quota

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// MaxLimit is Harbor's largest storage limit: 1024 TB.
const MaxLimit = meta.MaxStorageLimit

// WarnPercent is the share of its limit past which a project's usage is
// warned about (Harbor's default).
const WarnPercent = 85

// CheckLimit refuses a storage limit Harbor refuses: it must be -1
// (unlimited) or from 1 byte to MaxLimit.
func CheckLimit(n int64) error {
	if n == meta.UnlimitedStorage || n > 0 && n <= MaxLimit {
		return nil
	}
	if n > MaxLimit {
		return fmt.Errorf("exceeded 1024TB, which is %d Bytes, value=%d", int64(MaxLimit), n)
	}
	return fmt.Errorf("invalid non-positive value for quota limit, value=%d", n)
}

// FormatBytes writes a size as Harbor does: "512 B", "510.7 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Message is Harbor's message refusing a push past a limit (sent with
// 403 DENIED).
func Message(e *meta.QuotaExceededError) string {
	return fmt.Sprintf("adding %s of storage resource, which when updated to current usage of %s will exceed the configured upper limit of %s.",
		FormatBytes(e.Adding), FormatBytes(e.Used), FormatBytes(e.Limit))
}

// EventType is Harbor's name of a quota event.
type EventType string

// The quota events, Harbor's webhook event types.
const (
	Warning EventType = "QUOTA_WARNING"
	Exceed  EventType = "QUOTA_EXCEED"
)

// Event is a quota event.
type Event struct {
	Type    EventType
	Project string
	// Repo and Digest are what was pushed, when known.
	Repo     string
	Digest   digest.Digest
	Used     int64 // after the change (before it, for a refusal)
	Limit    int64
	Message  string
	Operator string // who pushed ("" unknown)
	At       time.Time
}

// EventData is what the event adds to a webhook's event_data (see
// webhook.EventDataer): Harbor's custom_attributes with the message as
// its Details.
func (e Event) EventData() map[string]any {
	return map[string]any{"custom_attributes": map[string]string{"Details": e.Message}}
}

// EventOf returns the event a usage change causes, if any: Exceed for a
// refused charge; Warning for a committed charge that takes the usage from
// under WarnPercent % of the limit to at or over it. Harbor warns after
// every push while a project is over 85 %; once per crossing spares the
// receivers a notification for every layer of every push.
func EventOf(c meta.UsageChange) (Event, bool) {
	ev := Event{Project: c.Project, Repo: c.Repo, Digest: c.Digest, Limit: c.Limit}
	switch {
	case c.Refused:
		ev.Type, ev.Used = Exceed, c.Before
		ev.Message = Message(&meta.QuotaExceededError{Project: c.Project, Adding: c.Adding, Used: c.Before, Limit: c.Limit})
	case c.Limit > 0 && c.After > c.Before && warned(c.After, c.Limit) && !warned(c.Before, c.Limit):
		ev.Type, ev.Used = Warning, c.After
		ev.Message = fmt.Sprintf("quota usage reach %d%%: resource storage used %s of %s", WarnPercent,
			FormatBytes(c.After), FormatBytes(c.Limit))
	default:
		return Event{}, false
	}
	return ev, true
}

// warned: used is at or over WarnPercent % of limit (no overflow: a limit
// is at most 2^50).
func warned(used, limit int64) bool { return used*100 >= limit*WarnPercent }

// Notifier turns the store's usage changes into events and hands them to
// emit on its own goroutine, so that the request that made the change
// never waits for it.
type Notifier struct {
	emit func(Event)
	log  *slog.Logger
	ch   chan Event
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// Dropped counts events lost because emit fell too far behind or
	// the notifier was closed.
	Dropped atomic.Int64
}

// NewNotifier starts a notifier; Close stops it.
func NewNotifier(emit func(Event), log *slog.Logger) *Notifier {
	n := &Notifier{emit: emit, log: log, ch: make(chan Event, 256), stop: make(chan struct{}), done: make(chan struct{})}
	go n.run()
	return n
}

func (n *Notifier) run() {
	defer close(n.done)
	for {
		select {
		case ev := <-n.ch:
			n.emit(ev)
		case <-n.stop:
			for { // what was queued before Close
				select {
				case ev := <-n.ch:
					n.emit(ev)
				default:
					return
				}
			}
		}
	}
}

// Observe is a meta.UsageObserver: it never blocks, and drops the event
// once the notifier is closed.
func (n *Notifier) Observe(ctx context.Context, c meta.UsageChange) {
	ev, ok := EventOf(c)
	if !ok {
		return
	}
	ev.Operator, ev.At = auth.FromContext(ctx).Name, time.Now()
	select {
	case <-n.stop:
		n.Dropped.Add(1)
		return
	default:
	}
	select {
	case n.ch <- ev:
	default:
		n.Dropped.Add(1)
		n.log.Warn("quota event dropped", "type", string(ev.Type), "project", ev.Project)
	}
}

// Close emits what is queued and stops.
func (n *Notifier) Close() {
	n.once.Do(func() { close(n.stop) })
	<-n.done
}
