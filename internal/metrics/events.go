package metrics

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/events"
)

// eventCounters count pushes, pulls and deletes of artifacts by project:
// projects are bounded, repositories are not, so they are never a label.
type eventCounters struct {
	vecs [3]*prometheus.CounterVec
	mu   sync.RWMutex
	// byProject caches each project's three children, so that counting a
	// pull is a map lookup under a read lock, not a label hash.
	byProject map[string]*[3]prometheus.Counter
}

const (
	evPush = iota
	evPull
	evDelete
)

// SubscribeEvents counts the artifact events published on bus. The
// handler only increments counters: it never blocks the publisher.
func (r *Registry) SubscribeEvents(bus *events.Bus) {
	c := &eventCounters{byProject: map[string]*[3]prometheus.Counter{}}
	for i, n := range []struct{ name, help string }{
		{"berth_artifact_pushes_total", "Artifacts pushed, by project."},
		{"berth_artifact_pulls_total", "Artifacts pulled (manifest GETs), by project."},
		{"berth_artifact_deletes_total", "Artifacts deleted, by project."},
	} {
		c.vecs[i] = prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.name, Help: n.help}, []string{"project"})
		r.reg.MustRegister(c.vecs[i])
	}
	bus.Subscribe(c.handle, events.PushArtifact, events.PullArtifact, events.DeleteArtifact)
}

func (c *eventCounters) handle(_ context.Context, e events.Event) {
	i := evPush
	switch e.Type {
	case events.PullArtifact:
		i = evPull
	case events.DeleteArtifact:
		i = evDelete
	}
	c.project(e.Project)[i].Inc()
}

func (c *eventCounters) project(p string) *[3]prometheus.Counter {
	c.mu.RLock()
	cs := c.byProject[p]
	c.mu.RUnlock()
	if cs != nil {
		return cs
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs = c.byProject[p]; cs == nil {
		cs = &[3]prometheus.Counter{}
		for i, v := range c.vecs {
			cs[i] = v.WithLabelValues(p)
		}
		c.byProject[p] = cs
	}
	return cs
}
