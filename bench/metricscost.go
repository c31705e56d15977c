package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
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
	var on, off, cpuOn, cpuOff []float64
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
			rps, cpu, err := manifestGetC256(ctx, target{name: tg.name, start: start}, z)
			if err != nil {
				return fmt.Errorf("metrics=%t: %w", enabled, err)
			}
			if enabled {
				on, cpuOn = append(on, rps), append(cpuOn, cpu)
			} else {
				off, cpuOff = append(off, rps), append(cpuOff, cpu)
			}
		}
	}
	mOn, mOff := summarize(on).Median, summarize(off).Median
	out["manifest_get_tag_c256_metrics_on_rps"] = mOn
	out["manifest_get_tag_c256_metrics_off_rps"] = mOff
	out["metrics_cost_pct"] = (mOff - mOn) / mOff * 100
	// Throughput on a shared machine follows its load; the server's CPU
	// time per request does much less.
	cOn, cOff := summarize(cpuOn).Median, summarize(cpuOff).Median
	out["manifest_get_cpu_us_metrics_on"], out["manifest_get_cpu_us_metrics_off"] = cOn, cOff
	out["metrics_cpu_cost_pct"] = (cOn - cOff) / cOff * 100
	fmt.Printf("  %-9s metrics on %.0f req/s, off %.0f req/s (cost %+.1f %%); server CPU per request on %.1f µs, off %.1f µs (cost %+.1f %%)\n",
		"metrics", mOn, mOff, (mOff-mOn)/mOff*100, cOn, cOff, (cOn-cOff)/cOff*100)
	return nil
}

// manifestGetC256 starts a server of tg, pushes an image and returns its
// manifest GET by tag throughput at c=256 and the server's CPU time per
// request, in microseconds.
func manifestGetC256(ctx context.Context, tg target, z sizes) (rps, cpuMicros float64, err error) {
	dir, err := os.MkdirTemp("", "bench-metrics-"+tg.name+"-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	waitIdle(ctx, 10*time.Second)
	s, err := launch(tg, dir)
	if err != nil {
		return 0, 0, err
	}
	defer s.stop()
	c := newClient(s.url, 256)
	defer c.close()
	img, err := c.pushImage(ctx, "bench/metrics", "latest", 2, 4096)
	if err != nil {
		return 0, 0, err
	}
	cpu0 := s.cpuTicks()
	r := runLoad(ctx, 256, z.loadDur, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, n, err := c.do(ctx, "GET", "/v2/bench/metrics/manifests/"+img.tag, nil, 0, http.StatusOK, "Accept", mtManifest)
		return n, err
	})
	if r.firstErr != nil {
		return 0, 0, r.firstErr
	}
	cpu := float64(s.cpuTicks()-cpu0) / clockTicks * 1e6
	return r.opsPerSec(), cpu / float64(max(r.ops, 1)), nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

// cpuTicks reads the server's user and system CPU time from /proc.
func (s *server) cpuTicks() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces), from field 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}
