package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what a timed, concurrent load achieved.
type loadResult struct {
	ops, bytes, errs int64
	lat              latencies
	dur              time.Duration
	firstErr         error
}

func (r loadResult) opsPerSec() float64 { return float64(r.ops) / r.dur.Seconds() }
func (r loadResult) mbPerSec() float64  { return float64(r.bytes) / 1e6 / r.dur.Seconds() }

// runLoad runs fn on c workers until d has passed or maxOps operations were
// started, whichever is first: every load is bounded in count and time.
func runLoad(ctx context.Context, c int, d time.Duration, maxOps int64, fn func(ctx context.Context, worker int, op int64) (int64, error)) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second) // hard stop for stuck requests
	defer cancel()
	var started atomic.Int64
	var mu sync.Mutex
	res := loadResult{}
	deadline := time.Now().Add(d)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var lat latencies
			var ops, bytes, errs int64
			var firstErr error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				op := started.Add(1)
				if op > maxOps {
					break
				}
				t0 := time.Now()
				n, err := fn(ctx, w, op)
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ops++
				bytes += n
			}
			mu.Lock()
			res.ops += ops
			res.bytes += bytes
			res.errs += errs
			res.lat = append(res.lat, lat...)
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res.dur = time.Since(begin)
	return res
}
