// Command bench runs the same workloads against berth and the reference
// registry (distribution/distribution) in one run, several repetitions,
// interleaved, and reports medians, spreads and the ratio berth/reference.
// Every server listens on 127.0.0.1 and every load is bounded in count and
// time. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var (
		reps      = flag.Int("reps", 3, "repetitions (targets interleaved, order alternating)")
		quick     = flag.Bool("quick", false, "smoke run: tiny sizes and durations (CI)")
		berthBin  = flag.String("berth", "bin/berth", "berth binary")
		refBin    = flag.String("registry", "", "reference registry binary (distribution v3.1.2)")
		outDir    = flag.String("out", "bench/results", "where results.json and results.md go")
		noRestart = flag.Bool("skip-restart", false, "skip the restart-with-many-manifests figure (slow)")
		onlyCost  = flag.Bool("metrics-cost", false, "only measure what metrics cost berth (manifest GET c=256, --metrics on and off); no reference needed")
	)
	flag.Parse()
	if *onlyCost {
		z := fullSizes
		if *quick {
			z = quickSizes
		}
		out := results{}
		if err := metricsCost(context.Background(), berthTarget(*berthBin), z, out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *refBin == "" {
		fmt.Fprintln(os.Stderr, "bench: -registry is required (make bench installs it)")
		os.Exit(2)
	}
	z := fullSizes
	if *quick {
		z = quickSizes
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	targets := []target{berthTarget(*berthBin), referenceTarget(*refBin)}
	runs := map[string][]results{}
	begin := time.Now()
	for rep := 0; rep < *reps; rep++ {
		order := targets
		if rep%2 == 1 {
			order = []target{targets[1], targets[0]}
		}
		for _, tg := range order {
			fmt.Printf("rep %d/%d: %s\n", rep+1, *reps, tg.name)
			res, err := runAll(ctx, tg, z, !*noRestart)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", tg.name, err)
				os.Exit(1)
			}
			runs[tg.name] = append(runs[tg.name], res)
		}
	}
	rep := buildReport(runs, *reps, *quick, time.Since(begin))
	if err := rep.write(*outDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Print(rep.markdown())
}

// runAll runs every workload group on fresh servers of one target.
func runAll(ctx context.Context, tg target, z sizes, restart bool) (results, error) {
	out := results{}
	groups := []struct {
		name string
		fn   func(context.Context, *server, sizes, results) error
	}{
		{"blobs", blobWorkloads},
		{"manifests", manifestWorkloads},
		{"tags", tagWorkloads},
		{"mixed", mixedWorkload},
	}
	for i, g := range groups {
		dir, err := os.MkdirTemp("", "bench-"+tg.name+"-")
		if err != nil {
			return nil, err
		}
		waitIdle(ctx, 10*time.Second)
		s, err := launch(tg, dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if i == 0 {
			out["startup_ms"] = ms(s.startup)
			time.Sleep(time.Second)
			cur, _ := s.rss()
			out["idle_rss_mib"] = float64(cur) / (1 << 20)
		}
		t0 := time.Now()
		err = g.fn(ctx, s, z, out)
		s.stop()
		os.RemoveAll(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.name, err)
		}
		fmt.Printf("  %-9s %s\n", g.name, time.Since(t0).Round(time.Millisecond))
	}
	if tg.startAuth != nil {
		dir, err := os.MkdirTemp("", "bench-auth-"+tg.name+"-")
		if err != nil {
			return nil, err
		}
		waitIdle(ctx, 10*time.Second)
		s, err := launch(target{name: tg.name, start: tg.startAuth}, dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		t0 := time.Now()
		err = authWorkloads(ctx, s, z, out)
		s.stop()
		os.RemoveAll(dir)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		fmt.Printf("  %-9s %s\n", "auth", time.Since(t0).Round(time.Millisecond))
	}
	if tg.startNoMetrics != nil {
		t0 := time.Now()
		if err := metricsCost(ctx, tg, z, out); err != nil {
			return nil, fmt.Errorf("metrics cost: %w", err)
		}
		fmt.Printf("  %-9s %s\n", "metrics", time.Since(t0).Round(time.Millisecond))
	}
	if restart {
		if err := restartFigure(ctx, tg, z, out); err != nil {
			return nil, fmt.Errorf("restart: %w", err)
		}
	}
	return out, nil
}

// restartFigure stores z.restartManifests manifests, stops the server, and
// times a restart to the first 200 on /v2/.
func restartFigure(ctx context.Context, tg target, z sizes, out results) error {
	dir, err := os.MkdirTemp("", "bench-restart-"+tg.name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := launch(tg, dir)
	if err != nil {
		return err
	}
	t0 := time.Now()
	err = seedManifests(ctx, s, z.restartManifests)
	s.stop()
	if err != nil {
		return err
	}
	fmt.Printf("  %-9s %s (%d manifests)\n", "seed", time.Since(t0).Round(time.Millisecond), z.restartManifests)
	waitIdle(ctx, 10*time.Second)
	s, err = launch(tg, dir)
	if err != nil {
		return err
	}
	out["restart_ms"] = ms(s.startup)
	s.stop()
	return nil
}
