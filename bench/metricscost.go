package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"
)

// metricsRounds is how many servers of each setting the metrics cost is
// measured on; the settings alternate, so a drift of the machine's load
// falls on both.
const metricsRounds = 3

// metricsCost measures what Prometheus metrics cost berth's hottest path:
// manifest GET by tag at c=256 on fresh servers with --metrics=true (the
// default) and --metrics=false, in alternating rounds. It reports the
// median throughput of each and the share lost with metrics on.
func metricsCost(ctx context.Context, tg target, z sizes, out results) error {
	var on, off []float64
	for round := range metricsRounds {
		order := []bool{true, false}
		if round%2 == 1 {
			order = []bool{false, true}
		}
		for _, enabled := range order {
			start := tg.start
			if !enabled {
				start = tg.startNoMetrics
			}
			rps, err := manifestGetC256(ctx, target{name: tg.name, start: start}, z)
			if err != nil {
				return fmt.Errorf("metrics=%t: %w", enabled, err)
			}
			if enabled {
				on = append(on, rps)
			} else {
				off = append(off, rps)
			}
		}
	}
	mOn, mOff := summarize(on).Median, summarize(off).Median
	out["manifest_get_tag_c256_metrics_on_rps"] = mOn
	out["manifest_get_tag_c256_metrics_off_rps"] = mOff
	out["metrics_cost_pct"] = (mOff - mOn) / mOff * 100
	fmt.Printf("  %-9s metrics on %.0f req/s, off %.0f req/s (%+.1f %%)\n", "metrics", mOn, mOff, (mOff-mOn)/mOff*100)
	return nil
}

// manifestGetC256 starts a server of tg, pushes an image and returns its
// manifest GET by tag throughput at c=256.
func manifestGetC256(ctx context.Context, tg target, z sizes) (float64, error) {
	dir, err := os.MkdirTemp("", "bench-metrics-"+tg.name+"-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	waitIdle(ctx, 10*time.Second)
	s, err := launch(tg, dir)
	if err != nil {
		return 0, err
	}
	defer s.stop()
	c := newClient(s.url, 256)
	defer c.close()
	img, err := c.pushImage(ctx, "bench/metrics", "latest", 2, 4096)
	if err != nil {
		return 0, err
	}
	r := runLoad(ctx, 256, z.loadDur, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, n, err := c.do(ctx, "GET", "/v2/bench/metrics/manifests/"+img.tag, nil, 0, http.StatusOK, "Accept", mtManifest)
		return n, err
	})
	if r.firstErr != nil {
		return 0, r.firstErr
	}
	return r.opsPerSec(), nil
}
