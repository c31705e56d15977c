// Package events carries what happened in the registry (an artifact
// pushed, pulled or deleted, a scan finished, a quota crossed, ...) from
// the code that did it to the features that react: webhooks, replication
// triggers, scan on push, metrics. It is in-process and best effort: a
// subscriber that must not lose an event (a webhook delivery) turns it
// into a row of the job queue (internal/jobs) as soon as it gets it.
//
// Publishing is on hot paths (every manifest GET publishes a pull), so it
// never blocks and costs nothing when nobody subscribed to that type.
package events

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// Type names an event with Harbor's webhook event type names, so the
// webhook package can use them as they are.
type Type string

const (
	PushArtifact      Type = "PUSH_ARTIFACT"
	PullArtifact      Type = "PULL_ARTIFACT"
	DeleteArtifact    Type = "DELETE_ARTIFACT"
	CreateTag         Type = "CREATE_TAG"        // berth's: a tag set on an artifact (push by tag, API copy)
	DeleteTag         Type = "DELETE_TAG"        // berth's: a tag removed without its artifact
	DeleteRepository  Type = "DELETE_REPOSITORY" // berth's: a repository removed with all it held
	ScanningCompleted Type = "SCANNING_COMPLETED"
	ScanningFailed    Type = "SCANNING_FAILED"
	ScanningStopped   Type = "SCANNING_STOPPED"
	QuotaExceed       Type = "QUOTA_EXCEED"
	QuotaWarning      Type = "QUOTA_WARNING"
	Replication       Type = "REPLICATION"
	TagRetention      Type = "TAG_RETENTION"
)

// Types lists every type, in Harbor's order first.
var Types = []Type{PushArtifact, PullArtifact, DeleteArtifact, ScanningCompleted, ScanningFailed,
	ScanningStopped, QuotaExceed, QuotaWarning, Replication, TagRetention, CreateTag, DeleteTag, DeleteRepository}

// Event is one thing that happened. Fields that do not apply are zero.
type Event struct {
	Type Type
	At   time.Time
	// Operator is the user name of the caller ("" if anonymous).
	Operator string
	// Project is the project name, Repo the full repository name
	// ("project/name"), Digest the artifact's digest and Tags the tags the
	// event concerns (the pushed tags, the deleted tag).
	Project   string
	Repo      string
	Digest    digest.Digest
	Tags      []string
	MediaType string
	Size      int64
	// Internal marks events caused by berth's own jobs (replication,
	// scanning, retention) rather than a client request; reactions that
	// would loop (replicating a replicated push) check it.
	Internal bool
	// Detail carries the type-specific rest (a scan overview, a quota
	// figure, a replication or retention execution id), typed by the
	// package that publishes it.
	Detail any
}

// Handler receives events. It runs on the publisher's goroutine and must
// not block: queue the work and return.
type Handler func(context.Context, Event)

// Bus fans events out to subscribers. The zero value is not usable: New.
type Bus struct {
	mu   sync.Mutex
	subs atomic.Pointer[map[Type][]Handler]
}

// New returns a bus with no subscribers.
func New() *Bus {
	b := &Bus{}
	empty := map[Type][]Handler{}
	b.subs.Store(&empty)
	return b
}

// Subscribe calls h for every event of the given types (all types if
// none are given). Subscriptions are made at start-up; there is no
// unsubscribe.
func (b *Bus) Subscribe(h Handler, types ...Type) {
	if len(types) == 0 {
		types = Types
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next := map[Type][]Handler{}
	for t, hs := range *b.subs.Load() {
		next[t] = hs
	}
	for _, t := range types {
		next[t] = append(append([]Handler(nil), next[t]...), h)
	}
	b.subs.Store(&next)
}

// Wants reports whether anyone subscribed to t: publishers of costly
// events check it before building one.
func (b *Bus) Wants(t Type) bool {
	return b != nil && len((*b.subs.Load())[t]) > 0
}

// Publish hands e to the subscribers of its type. A nil bus drops it.
// At is set to now if zero; Internal is set if ctx is marked by
// WithInternal.
func (b *Bus) Publish(ctx context.Context, e Event) {
	if b == nil {
		return
	}
	hs := (*b.subs.Load())[e.Type]
	if len(hs) == 0 {
		return
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if IsInternal(ctx) {
		e.Internal = true
	}
	for _, h := range hs {
		h(ctx, e)
	}
}

type internalKey struct{}

// WithInternal marks ctx as berth's own work: events published under it
// are Internal.
func WithInternal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

// IsInternal reports whether ctx was marked by WithInternal.
func IsInternal(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}

// ProjectOf returns the project of a repository name: its first segment.
func ProjectOf(repo string) string {
	for i := 0; i < len(repo); i++ {
		if repo[i] == '/' {
			return repo[:i]
		}
	}
	return repo
}

// Gather adds to batch the events that arrive on ch within wait, up to
// max in all (or until ctx ends): a subscriber that writes what events
// cause makes one write transaction of a burst, not one per event.
func Gather(ctx context.Context, ch <-chan Event, batch []Event, wait time.Duration, max int) []Event {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(batch) < max {
		select {
		case e := <-ch:
			batch = append(batch, e)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}
