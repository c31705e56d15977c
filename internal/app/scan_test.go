package app

import (
	"fmt"
	"testing"
	"time"
)

// TestAutoScanKeepsPushesFast: with auto_scan on, a push only queues its
// scan (the scan runs after the answer), so its latency is that of a push
// without: p50 of pushes with auto_scan against rounds without it before
// and after (a busier moment or a larger database does not decide the
// comparison). Measured twice: pushes 40 ms apart (each scan done before
// the next push: the push path alone, bounded) and back to back (each
// push then shares the one SQLite writer with the scan of the one before:
// logged only).
func TestAutoScanKeepsPushesFast(t *testing.T) {
	base := webhookServer(t)
	admin := &creds{"admin", adminPassword}
	const n = 40
	setAutoScan := func(on bool) {
		body := fmt.Sprintf(`{"metadata":{"auto_scan":"%v"}}`, on)
		if st, _, b := call(t, "PUT", base+"/api/v2.0/projects/hooks", admin, "", []byte(body), "Content-Type", "application/json"); st != 200 {
			t.Fatalf("auto_scan %v: %d %s", on, st, b)
		}
	}
	pushUnique(t, base, "hooks/scanned", "warm-up")
	for _, gap := range []time.Duration{40 * time.Millisecond, 0} {
		measure := func(prefix string) []time.Duration {
			var ds []time.Duration
			for i := range n {
				ds = append(ds, pushUnique(t, base, "hooks/scanned", fmt.Sprintf("%s%v-%d", prefix, gap, i)))
				time.Sleep(gap)
			}
			return ds
		}
		before := measure("a")
		setAutoScan(true)
		with := p50(measure("b"))
		setAutoScan(false)
		after := measure("c")
		without := p50(append(before, after...))
		t.Logf("pushes %v apart: push p50 over %d pushes %s with auto_scan, %s without (%s before, %s after): %+.1f %%",
			gap, n, with, without, p50(before), p50(after), 100*(float64(with)/float64(without)-1))
		if gap > 0 && with > 2*without+10*time.Millisecond {
			t.Errorf("push p50 %s with auto_scan, %s without", with, without)
		}
	}
}
