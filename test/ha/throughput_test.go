package ha

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	tpClients  = 64
	tpDuration = 3 * time.Second
	tpMaxReqs  = 2_000_000 // per run, whatever the time
)

// TestManifestGetThroughput measures manifest GETs by tag (64 concurrent
// clients, 3s) through nginx in front of three replicas, and through the
// same nginx configuration with only one of them as upstream. Access
// control is off, so the figures are the registry's and the balancer's.
// Every answer must be 200 with the pushed digest.
func TestManifestGetThroughput(t *testing.T) {
	c := startCluster(t, 3, false, onS3)
	lb3 := startNginx(t, freePort(t), c.addrs)
	lb1 := startNginx(t, freePort(t), c.addrs[:1])
	rec := &recorder{}
	img, err := newClient(lb3.URL, "", rec).push(rand.New(rand.NewPCG(3, 1)), "library/tp/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	// A short warm-up of both (connections, caches), then the runs.
	for _, lb := range []*nginx{lb1, lb3} {
		if _, err := manifestGets(lb.URL, img, tpClients, 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	r1, err := manifestGets(lb1.URL, img, tpClients, tpDuration)
	if err != nil {
		t.Fatal(err)
	}
	r3, err := manifestGets(lb3.URL, img, tpClients, tpDuration)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("manifest GET by tag through nginx, c=%d, %s each: 1 replica %s; 3 replicas %s; 3 vs 1: %.2fx",
		tpClients, tpDuration, r1, r3, r3.perSec/r1.perSec)
	t.Logf("throughput summary: manifest_get_per_s_1_replica=%.0f manifest_get_per_s_3_replicas=%.0f", r1.perSec, r3.perSec)
}

// run is one throughput measurement.
type run struct {
	n        int
	perSec   float64
	p50, p99 time.Duration
}

func (r run) String() string {
	return fmt.Sprintf("%.0f/s (%d requests, p50 %s, p99 %s)", r.perSec, r.n,
		r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
}

// manifestGets runs conc clients getting img's manifest by tag from base
// for d, and checks every answer.
func manifestGets(base string, img image, conc int, d time.Duration) (run, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	u := base + "/v2/" + img.repo + "/manifests/" + img.tag
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	var sent atomic.Int64
	start := time.Now()
	stop := start.Add(d)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var err error
			for time.Now().Before(stop) && err == nil {
				if sent.Add(1) > tpMaxReqs {
					break
				}
				t0 := time.Now()
				err = getManifest(hc, u, img)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return run{}, firstErr
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	r := run{n: len(latencies), perSec: float64(len(latencies)) / elapsed.Seconds()}
	if r.n > 0 {
		r.p50, r.p99 = latencies[r.n/2], latencies[r.n*99/100]
	}
	return r, nil
}

func getManifest(hc *http.Client, u string, img image) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", mtManifest)
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Docker-Content-Digest") != img.manifest.String() ||
		digest.FromBytes(b) != img.manifest {
		return fmt.Errorf("GET %s: %s, digest %q", u, res.Status, res.Header.Get("Docker-Content-Digest"))
	}
	return nil
}
