package pullstats

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// fakeStore records the batches it is given; block, when set, holds each
// call until it is closed; fail makes calls fail.
type fakeStore struct {
	mu      sync.Mutex
	batches []batch
	block   chan struct{}
	fail    error
}

type batch struct {
	counts []meta.PullCount
	times  []meta.PullTime
}

func (f *fakeStore) RecordPulls(_ context.Context, counts []meta.PullCount, times []meta.PullTime) error {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, batch{counts, times})
	return f.fail
}

// totals adds up every batch: pulls per repository, latest time per
// manifest and tag.
func (f *fakeStore) totals() (map[string]int64, map[manifestKey]time.Time, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	counts, times := map[string]int64{}, map[manifestKey]time.Time{}
	for _, b := range f.batches {
		for _, c := range b.counts {
			counts[c.Repo] += c.N
		}
		for _, p := range b.times {
			k := manifestKey{p.Repo, p.Digest, p.Tag}
			if p.At.After(times[k]) {
				times[k] = p.At
			}
		}
	}
	return counts, times, len(f.batches)
}

var (
	d1 = digest.FromString("one")
	d2 = digest.FromString("two")
)

func TestAggregatesAndFlushes(t *testing.T) {
	st := &fakeStore{}
	r := New(st, Options{FlushEvery: time.Hour})
	defer r.Close()
	ctx := context.Background()
	before := time.Now().Truncate(time.Millisecond)
	for range 3 {
		r.Pulled(ctx, "p/a", "v1", d1)
	}
	r.Pulled(ctx, "p/a", "", d1)
	r.Pulled(ctx, "p/b", "latest", d2)
	r.Pulled(Uncounted(ctx), "p/b", "latest", d2) // berth's own: not counted
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	counts, times, n := st.totals()
	if n != 1 || !maps(counts, map[string]int64{"p/a": 4, "p/b": 1}) {
		t.Fatalf("%d batches, counts %v", n, counts)
	}
	if len(times) != 3 {
		t.Fatalf("times %v", times)
	}
	for k, at := range times {
		if at.Before(before) || at.After(time.Now()) {
			t.Errorf("%v pulled at %v, not between %v and now", k, at, before)
		}
	}
	if err := r.Flush(ctx); err != nil { // nothing pending: no call
		t.Fatal(err)
	}
	if _, _, n := st.totals(); n != 1 {
		t.Errorf("an empty flush wrote a batch")
	}
	if r.Dropped() != 0 {
		t.Errorf("dropped %d", r.Dropped())
	}
}

func maps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestFlushesEverySecondAndWhenManyPending(t *testing.T) {
	st := &fakeStore{}
	r := New(st, Options{FlushEvery: 20 * time.Millisecond})
	r.Pulled(context.Background(), "p/a", "v1", d1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if counts, _, _ := st.totals(); counts["p/a"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ticker never flushed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.Close()

	st = &fakeStore{}
	r = New(st, Options{FlushEvery: time.Hour, MaxPending: 4})
	defer r.Close()
	for i := range 2 { // two repositories, a manifest each: 4 rows pending
		r.Pulled(context.Background(), []string{"p/a", "p/b"}[i], "", d1)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, _, n := st.totals(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("MaxPending rows did not flush")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseWritesPending(t *testing.T) {
	st := &fakeStore{}
	r := New(st, Options{FlushEvery: time.Hour})
	for range 5 {
		r.Pulled(context.Background(), "p/a", "v1", d1)
	}
	r.Close()
	if counts, _, _ := st.totals(); counts["p/a"] != 5 {
		t.Fatalf("after Close: %v", counts)
	}
	r.Pulled(context.Background(), "p/a", "v1", d1) // after Close: dropped, never blocks
	if r.Dropped() != 1 {
		t.Errorf("dropped %d after Close, want 1", r.Dropped())
	}
	r.Close() // twice is fine
	if err := r.Flush(context.Background()); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
}

// TestFullBufferDrops: while the store is stuck, pulls fill the buffer and
// are then dropped and counted, never waited for.
func TestFullBufferDrops(t *testing.T) {
	st := &fakeStore{block: make(chan struct{})}
	r := New(st, Options{FlushEvery: time.Hour, MaxPending: 1, Buffer: 4})
	ctx := context.Background()
	r.Pulled(ctx, "p/a", "", d1) // taken by the recorder, whose write now blocks
	deadline := time.Now().Add(5 * time.Second)
	for len(r.ch) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the recorder never took the first pull")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	for range 10 {
		r.Pulled(ctx, "p/a", "", d1)
	}
	if time.Since(start) > time.Second {
		t.Errorf("pulls waited for a stuck store")
	}
	if r.Dropped() != 6 {
		t.Errorf("dropped %d, want 6 (10 pulls, 4 buffered)", r.Dropped())
	}
	close(st.block)
	r.Close()
	if counts, _, _ := st.totals(); counts["p/a"] != 5 {
		t.Errorf("written %v, want the 5 not dropped", counts)
	}
}

func TestFailedWriteCountsDropped(t *testing.T) {
	st := &fakeStore{fail: errors.New("database away")}
	r := New(st, Options{FlushEvery: time.Hour})
	defer r.Close()
	for range 3 {
		r.Pulled(context.Background(), "p/a", "", d1)
	}
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("Flush hid the store's error")
	}
	if r.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", r.Dropped())
	}
}

// TestPulledAllocatesNothing: the manifest GET path pays no allocation
// for the statistics.
func TestPulledAllocatesNothing(t *testing.T) {
	st := &fakeStore{}
	r := New(st, Options{FlushEvery: time.Hour, MaxPending: 1 << 20, Buffer: 1 << 16})
	defer r.Close()
	ctx := context.Background()
	repo, tag := "p/a", "v1"
	r.Pulled(ctx, repo, tag, d1) // the keys exist from now on
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { r.Pulled(ctx, repo, tag, d1) }); n != 0 {
		t.Errorf("Pulled allocates %v times", n)
	}
	uncounted := Uncounted(ctx)
	if n := testing.AllocsPerRun(1000, func() { r.Pulled(uncounted, repo, tag, d1) }); n != 0 {
		t.Errorf("Pulled (uncounted) allocates %v times", n)
	}
	if !slices.Equal([]bool{IsUncounted(ctx), IsUncounted(uncounted)}, []bool{false, true}) {
		t.Error("IsUncounted")
	}
}

// BenchmarkPulled is what a counted pull adds to a manifest GET (the
// buffer is emptied outside the timing, so no pull is dropped).
func BenchmarkPulled(b *testing.B) {
	r := New(&fakeStore{}, Options{FlushEvery: time.Hour, DrainEvery: time.Hour})
	defer r.Close()
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r.Pulled(ctx, "library/app", "latest", d1)
		if n++; n == r.opt.Buffer {
			b.StopTimer()
			if err := r.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			n = 0
			b.StartTimer()
		}
	}
	if r.Dropped() != 0 {
		b.Fatalf("dropped %d", r.Dropped())
	}
}
