package catalog

import (
	"container/list"
	"sync"
)

// DefaultLayerCache is the bound of a LayerCache's memory by default: a
// Debian base layer's facts take about 0.5 MiB (its file paths and its
// dpkg database), so this keeps a hundred or more layers.
const DefaultLayerCache = 64 << 20

// LayerCache keeps what layers hold (their facts) by digest, the least
// recently used dropped beyond Max bytes (estimated). Safe for concurrent
// use; a nil cache keeps nothing.
type LayerCache struct {
	Max int // 0: DefaultLayerCache

	mu    sync.Mutex
	order *list.List // of *cached, most recent first
	by    map[string]*list.Element
	size  int

	hits, misses int64
}

type cached struct {
	digest string
	facts  *layerFacts
	size   int
}

func (c *LayerCache) get(digest string) (*layerFacts, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.by[digest]; ok {
		c.order.MoveToFront(el)
		c.hits++
		return el.Value.(*cached).facts, true
	}
	c.misses++
	return nil, false
}

func (c *LayerCache) put(digest string, f *layerFacts) {
	if c == nil {
		return
	}
	max := c.Max
	if max <= 0 {
		max = DefaultLayerCache
	}
	n := f.size()
	if n > max/4 {
		return // one layer may not push out most of the others
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by, c.order = map[string]*list.Element{}, list.New()
	}
	if _, ok := c.by[digest]; ok {
		return
	}
	c.by[digest] = c.order.PushFront(&cached{digest: digest, facts: f, size: n})
	c.size += n
	for c.size > max {
		last := c.order.Back()
		e := last.Value.(*cached)
		c.order.Remove(last)
		delete(c.by, e.digest)
		c.size -= e.size
	}
}

// Stats returns the cache's hits and misses so far and the bytes it holds.
func (c *LayerCache) Stats() (hits, misses int64, size int) {
	if c == nil {
		return 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.size
}
