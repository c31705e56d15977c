// Package pullstats keeps Harbor's pull statistics: a repository's pull
// count, and the time each artifact and tag was last pulled. A pull hands
// a small event to a Recorder without waiting (and without allocating);
// the Recorder adds the events up in memory and writes the sums in one
// transaction every second, or sooner when many rows are pending, and on
// Close. When its buffer is full an event is dropped and counted: pulls
// never wait for statistics.
//
// The Recorder takes the events from its buffer on a short tick rather
// than waiting on the buffer: a pull then only copies its event into the
// buffer, and never wakes a parked goroutine (which costs more than all
// the rest together when pulls come one at a time). Events are stamped
// when they are taken, so a pull time may be up to DrainEvery late.
//
// Pulls made by berth itself (a job reading a manifest through the
// registry) are not counted: their context is marked with Uncounted.
package pullstats

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

type uncountedKey struct{}

// Uncounted marks ctx as berth's own: pulls made with it are not counted.
// The mark is a context value, which only code in this process can set (a
// request from a client cannot).
func Uncounted(ctx context.Context) context.Context {
	return context.WithValue(ctx, uncountedKey{}, true)
}

// IsUncounted reports whether ctx was marked by Uncounted.
func IsUncounted(ctx context.Context) bool {
	v, _ := ctx.Value(uncountedKey{}).(bool)
	return v
}

// Options tune a Recorder; zero values get the defaults.
type Options struct {
	// FlushEvery is how often pending sums are written (default 1s).
	FlushEvery time.Duration
	// MaxPending writes the sums sooner once this many rows (repositories,
	// manifests and tags) are pending (default 1024): it bounds memory and
	// the size of one transaction.
	MaxPending int
	// Buffer is how many events may wait for the recorder (default 16384).
	Buffer int
	// DrainEvery is how often the recorder takes the events from the
	// buffer (default 50ms): with the default buffer, up to about 300,000
	// pulls a second are counted.
	DrainEvery time.Duration
	Logger     *slog.Logger
}

// event is one pull. Its strings are those of the request and the stored
// manifest: sending it copies no bytes.
type event struct {
	repo, tag string
	digest    digest.Digest
}

type manifestKey struct {
	repo   string
	digest digest.Digest
	tag    string
}

// Recorder gathers pulls and writes them to a meta.PullStore.
type Recorder struct {
	store meta.PullStore
	opt   Options
	ch    chan event
	flush chan chan error
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	closed  atomic.Bool
	dropped atomic.Int64

	// Owned by the run goroutine.
	counts map[string]int64
	times  map[manifestKey]int64
}

// New starts a recorder writing to store.
func New(store meta.PullStore, opt Options) *Recorder {
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = time.Second
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = 1024
	}
	if opt.Buffer <= 0 {
		opt.Buffer = 16384
	}
	if opt.DrainEvery <= 0 {
		opt.DrainEvery = 50 * time.Millisecond
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	r := &Recorder{store: store, opt: opt, ch: make(chan event, opt.Buffer), flush: make(chan chan error),
		stop: make(chan struct{}), done: make(chan struct{}), counts: map[string]int64{}, times: map[manifestKey]int64{}}
	go r.run()
	return r
}

// Pulled records a pull of manifest d of repo, by tag ("" for a pull by
// digest), unless ctx is Uncounted. It never blocks: with the buffer full
// (or the recorder closed) the pull is dropped and counted in Dropped.
func (r *Recorder) Pulled(ctx context.Context, repo, tag string, d digest.Digest) {
	if IsUncounted(ctx) {
		return
	}
	if r.closed.Load() {
		r.dropped.Add(1)
		return
	}
	select {
	case r.ch <- event{repo: repo, tag: tag, digest: d}:
	default:
		r.dropped.Add(1)
	}
}

// Dropped is the number of pulls lost: buffer full, recorder closed, or
// a batch the store failed to write.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Flush writes everything recorded so far and returns the store's error.
func (r *Recorder) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.flush <- reply:
	case <-r.done:
		return nil // closed: Close wrote everything
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is pending and stops the recorder. Later pulls are
// dropped.
func (r *Recorder) Close() {
	r.once.Do(func() {
		r.closed.Store(true)
		close(r.stop)
	})
	<-r.done
}

func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(r.opt.FlushEvery)
	defer t.Stop()
	drain := time.NewTicker(r.opt.DrainEvery)
	defer drain.Stop()
	for {
		select {
		case <-drain.C:
			r.drain()
		case <-t.C:
			r.drain()
			r.write()
		case reply := <-r.flush:
			r.drain()
			reply <- r.write()
		case <-r.stop:
			r.drain()
			r.write()
			return
		}
	}
}

// drain adds up the events waiting in the buffer, writing the sums
// whenever MaxPending rows are pending.
func (r *Recorder) drain() {
	now := time.Now().UnixMilli()
	for {
		select {
		case e := <-r.ch:
			r.add(e, now)
			if len(r.counts)+len(r.times) >= r.opt.MaxPending {
				r.write()
			}
		default:
			return
		}
	}
}

func (r *Recorder) add(e event, at int64) {
	r.counts[e.repo]++
	k := manifestKey{repo: e.repo, digest: e.digest, tag: e.tag}
	if at > r.times[k] {
		r.times[k] = at
	}
}

// write hands the pending sums to the store in one call and forgets them,
// written or not (a failed batch is logged and counted as dropped: the
// maps must stay bounded while the database is away).
func (r *Recorder) write() error {
	if len(r.counts) == 0 {
		return nil
	}
	counts := make([]meta.PullCount, 0, len(r.counts))
	var n int64
	for repo, c := range r.counts {
		counts = append(counts, meta.PullCount{Repo: repo, N: c})
		n += c
	}
	times := make([]meta.PullTime, 0, len(r.times))
	for k, at := range r.times {
		times = append(times, meta.PullTime{Repo: k.repo, Digest: k.digest, Tag: k.tag, At: time.UnixMilli(at)})
	}
	clear(r.counts)
	clear(r.times)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.store.RecordPulls(ctx, counts, times)
	if err != nil {
		r.dropped.Add(n)
		r.opt.Logger.Warn("writing pull statistics", "pulls", n, "err", err)
	}
	return err
}
