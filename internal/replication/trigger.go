package replication

import (
	"context"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// maxPendingEvents bounds the events waiting to be matched against the
// policies: past it, events are dropped (and logged), never blocking a
// push.
const maxPendingEvents = 4096

// Subscribe makes pushes, new tags and deletes in berth start the
// event_based push-mode policies they match; Run must then run. Events
// of berth's own jobs (Internal, such as a pull-mode copy) are ignored,
// so two berths replicating to each other do not loop.
func (e *Engine) Subscribe(bus *events.Bus) {
	e.events = make(chan events.Event, maxPendingEvents)
	bus.Subscribe(func(_ context.Context, ev events.Event) {
		if ev.Internal {
			return
		}
		select {
		case e.events <- ev:
		default:
			e.Log.Warn("replication: too many events waiting; one dropped", "type", ev.Type, "repo", ev.Repo)
		}
	}, events.PushArtifact, events.CreateTag, events.DeleteArtifact, events.DeleteTag)
}

// Run matches events against the policies until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	if e.events == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-e.events:
			if err := e.onEvent(ctx, ev); err != nil && ctx.Err() == nil {
				e.Log.Warn("replication: starting event-based policies", "type", ev.Type, "repo", ev.Repo, "err", err)
			}
		}
	}
}

// eventPoliciesTTL is how long the list of event_based policies is
// reused between events (a burst of pushes reads it once).
const eventPoliciesTTL = 2 * time.Second

// eventPolicies are the enabled event_based push-mode policies.
func (e *Engine) eventPolicies(ctx context.Context) ([]Policy, error) {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	if time.Since(e.cachedAt) < eventPoliciesTTL {
		return e.cached, nil
	}
	ps, _, err := e.Policies(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize}}.
		With(meta.Cond{Key: "enabled", Values: []string{"true"}}))
	if err != nil {
		return nil, err
	}
	e.cached = slices.DeleteFunc(ps, func(p Policy) bool { return !p.PushMode() || p.TriggerType() != TriggerEvent })
	e.cachedAt = time.Now()
	return e.cached, nil
}

// forget drops the cached event_based policies: a change made here
// applies to the next event (another replica's, within
// eventPoliciesTTL).
func (e *Engine) forget() {
	e.cacheMu.Lock()
	e.cachedAt = time.Time{}
	e.cacheMu.Unlock()
}

// onEvent starts each enabled event_based push-mode policy ev matches.
func (e *Engine) onEvent(ctx context.Context, ev events.Event) error {
	ps, err := e.eventPolicies(ctx)
	if err != nil {
		return err
	}
	for i := range ps {
		p := &ps[i]
		if !p.PushMode() || p.TriggerType() != TriggerEvent || !p.MatchRepo(ev.Repo) {
			continue
		}
		params := &EventParams{Repo: ev.Repo, Digest: ev.Digest.String()}
		switch ev.Type {
		case events.PushArtifact, events.CreateTag:
			if len(ev.Tags) == 1 {
				if subject, ok := accessorySubject(ev.Tags[0]); ok { // a signature added later: copy it with its subject
					params.Digest = subject
					break
				}
			}
			tags, ok := selectTags(p, ev.Tags)
			if !ok {
				continue
			}
			params.Tags = tags
		case events.DeleteArtifact:
			if !p.ReplicateDeletion {
				continue
			}
			params.Delete = true
		case events.DeleteTag:
			if !p.ReplicateDeletion || !slices.ContainsFunc(ev.Tags, p.MatchTag) {
				continue
			}
			params.Delete, params.Digest, params.Tags = true, "", ev.Tags
		}
		if _, err := e.Start(ctx, p.ID, meta.TriggerEvent, params); err != nil {
			return err
		}
	}
	return nil
}
