package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// metricsSlices is how many load slices each setting gets; the slices
// alternate between the two servers (on, off, off, on, ...), so that a
// change in the machine's load falls on both alike.
const metricsSlices = 8

// costSide is one of the two servers compared.
type costSide struct {
	s   *server
	c   *client
	tag string
	ops int64
	dur time.Duration
	cpu int64 // clock ticks
}

// metricsCost measures what Prometheus metrics cost berth's hottest path,
// manifest GET by tag at c=256: two servers run side by side, one with
// --metrics=true (the default) and one with --metrics=false, and the load
// goes to one at a time in short alternating slices. It reports each
// one's throughput, the server CPU time per request, and the share lost
// with metrics on.
func metricsCost(ctx context.Context, tg target, z sizes, out results) error {
	var sides [2]*costSide // on, off
	for i, start := range []func(dataDir, addr string) *exec.Cmd{tg.start, tg.startNoMetrics} {
		dir, err := os.MkdirTemp("", "bench-metrics-"+tg.name+"-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		s, err := launch(target{name: tg.name, start: start}, dir)
		if err != nil {
			return err
		}
		defer s.stop()
		c := newClient(s.url, 256)
		defer c.close()
		img, err := c.pushImage(ctx, "bench/metrics", "latest", 2, 4096)
		if err != nil {
			return err
		}
		sides[i] = &costSide{s: s, c: c, tag: img.tag}
	}
	waitIdle(ctx, 10*time.Second)
	slice := max(z.loadDur/4, 100*time.Millisecond)
	for i := range 2 * metricsSlices {
		sd := sides[(i+i/2)%2] // on, off, off, on, on, off, ...
		cpu0 := sd.s.cpuTicks()
		r := runLoad(ctx, 256, slice, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
			_, n, err := sd.c.do(ctx, "GET", "/v2/bench/metrics/manifests/"+sd.tag, nil, 0, http.StatusOK, "Accept", mtManifest)
			return n, err
		})
		if r.firstErr != nil {
			return r.firstErr
		}
		sd.cpu += sd.s.cpuTicks() - cpu0
		sd.ops += r.ops
		sd.dur += r.dur
	}
	rps := func(sd *costSide) float64 { return float64(sd.ops) / sd.dur.Seconds() }
	cpuMicros := func(sd *costSide) float64 { return float64(sd.cpu) / clockTicks * 1e6 / float64(max(sd.ops, 1)) }
	on, off := sides[0], sides[1]
	out["manifest_get_tag_c256_metrics_on_rps"], out["manifest_get_tag_c256_metrics_off_rps"] = rps(on), rps(off)
	out["metrics_cost_pct"] = (rps(off) - rps(on)) / rps(off) * 100
	out["manifest_get_cpu_us_metrics_on"], out["manifest_get_cpu_us_metrics_off"] = cpuMicros(on), cpuMicros(off)
	out["metrics_cpu_cost_pct"] = (cpuMicros(on) - cpuMicros(off)) / cpuMicros(off) * 100
	fmt.Printf("  %-9s metrics on %.0f req/s, off %.0f req/s (cost %+.1f %%); server CPU per request on %.1f µs, off %.1f µs (%+.1f %%)\n",
		"metrics", rps(on), rps(off), out["metrics_cost_pct"], cpuMicros(on), cpuMicros(off), out["metrics_cpu_cost_pct"])
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

// cpuTicks reads the server's user and system CPU time from /proc.
func (s *server) cpuTicks() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) start
	// with field 3; utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}
