package jobs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestYieldOpen(t *testing.T) {
	y := &Yield{Quiet: 20 * time.Millisecond, MaxWait: 100 * time.Millisecond, Grant: 30 * time.Millisecond}
	t0 := time.Now()
	if ok, _ := y.open(t0); !ok {
		t.Fatal("closed before any foreground write")
	}
	y.last.Store(t0.UnixNano())
	if ok, wait := y.open(t0.Add(5 * time.Millisecond)); ok || wait != 15*time.Millisecond {
		t.Fatalf("5 ms after a write: open %v, wait %s; want closed for 15 ms", ok, wait)
	}
	if ok, _ := y.open(t0.Add(20 * time.Millisecond)); !ok {
		t.Fatal("closed after Quiet without writes")
	}
	// Writes that never pause: closed for MaxWait, then open for Grant.
	at := t0.Add(time.Second)
	for i := 0; ; i++ {
		now := at.Add(time.Duration(i) * 10 * time.Millisecond)
		y.last.Store(now.UnixNano())
		ok, _ := y.open(now)
		if i < 10 && ok {
			t.Fatalf("open %d ms into a burst", i*10)
		}
		if ok {
			if i != 10 {
				t.Fatalf("granted after %d ms of a burst, want 100", i*10)
			}
			if ok, _ := y.open(now.Add(29 * time.Millisecond)); !ok {
				t.Fatal("closed within the grant")
			}
			y.last.Store(now.Add(30 * time.Millisecond).UnixNano())
			if ok, _ := y.open(now.Add(30 * time.Millisecond)); ok {
				t.Fatal("open after the grant, in the burst")
			}
			return
		}
	}
}

// TestQueueYield: a kind yielding to foreground writes does not start
// while they go on; it starts within Quiet of their end, and during
// writes that never pause it is still run within MaxWait. Other kinds
// are not held back.
func TestQueueYield(t *testing.T) {
	st := openStore(t)
	q := testQueue(st, "h")
	q.Poll = time.Second // the yielding kind must not depend on polling
	// Quiet is long enough that a loaded machine's late sleeps between
	// touches do not open it; the second kind's MaxWait is short.
	y := &Yield{Quiet: 100 * time.Millisecond, MaxWait: time.Minute}
	y2 := &Yield{Quiet: 100 * time.Millisecond, MaxWait: 400 * time.Millisecond, Grant: 50 * time.Millisecond}
	var ran atomic.Int64 // unix ns of the last run of "bg"
	q.Register("bg", func(context.Context, *Run) error { ran.Store(time.Now().UnixNano()); return nil }, YieldTo(y))
	q.Register("bg2", func(context.Context, *Run) error { return nil }, YieldTo(y2))
	q.Register("fg", func(context.Context, *Run) error { return nil })
	start(t, q)
	ctx := context.Background()

	// A burst of writes 300 ms long: bg waits for its end, fg does not.
	burstEnd := time.Now().Add(300 * time.Millisecond)
	y.Touch()
	bg, err := q.Enqueue(ctx, "bg", 0, "MANUAL", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	fg, err := q.Enqueue(ctx, "fg", 0, "MANUAL", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(burstEnd) {
		y.Touch()
		time.Sleep(5 * time.Millisecond)
	}
	if e, _ := st.GetExecution(ctx, fg); e.Status != "Success" {
		t.Errorf("fg during the burst: %s, want Success", e.Status)
	}
	if r := ran.Load(); r != 0 && r < burstEnd.UnixNano() {
		t.Errorf("bg ran %s before the burst ended", time.Duration(burstEnd.UnixNano()-r))
	}
	waitFor(t, st, bg, "Success")
	if d := time.Duration(ran.Load() - burstEnd.UnixNano()); d > 500*time.Millisecond {
		t.Errorf("bg ran %s after the burst ended, want within about Quiet (100 ms)", d)
	}

	// Writes that never pause (until the test ends): bg2 still runs.
	y2.Touch()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				y2.Touch()
			}
		}
	}()
	t0 := time.Now()
	bg2, err := q.Enqueue(ctx, "bg2", 0, "MANUAL", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, st, bg2, "Success")
	if d := time.Since(t0); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("under endless writes bg2 ran after %s, want after about MaxWait (400 ms)", d)
	}
}

func TestYieldWait(t *testing.T) {
	var none *Yield
	if err := none.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	y := &Yield{Quiet: 50 * time.Millisecond, MaxWait: time.Minute}
	y.Touch()
	t0 := time.Now()
	if err := y.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 40*time.Millisecond {
		t.Errorf("Wait returned after %s, want after Quiet (50 ms)", d)
	}
	y.Touch()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := y.Wait(ctx); err == nil {
		t.Error("Wait ignored its context")
	}
}
