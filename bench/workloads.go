package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// sizes scales every workload; quick is the CI smoke version.
type sizes struct {
	streamBytes, chunkedBytes, pullBlobBytes int
	smallBlobs                               int
	loadDur, mixedDur                        time.Duration
	tags, repos, restartManifests            int
	mixedClients                             int
}

var fullSizes = sizes{
	streamBytes: 256 << 20, chunkedBytes: 64 << 20, pullBlobBytes: 64 << 20, smallBlobs: 1000,
	loadDur: 5 * time.Second, mixedDur: 20 * time.Second,
	tags: 10000, repos: 1000, restartManifests: 100000, mixedClients: 200,
}

var quickSizes = sizes{
	streamBytes: 16 << 20, chunkedBytes: 4 << 20, pullBlobBytes: 8 << 20, smallBlobs: 100,
	loadDur: 500 * time.Millisecond, mixedDur: 2 * time.Second,
	tags: 300, repos: 50, restartManifests: 300, mixedClients: 50,
}

const maxOps = 10_000_000 // a bound on every timed load besides its duration

type results map[string]float64

// repeatReader yields size bytes cycling through block, without holding the
// whole stream.
type repeatReader struct {
	block     []byte
	size, off int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	o := r.off % int64(len(r.block))
	n := copy(p, r.block[o:min(int64(len(r.block)), o+r.size-r.off)])
	r.off += int64(n)
	return n, nil
}

func streamDigest(block []byte, size int64) digest.Digest {
	dg := digest.SHA256.Digester()
	_, _ = io.Copy(dg.Hash(), &repeatReader{block: block, size: size})
	return dg.Digest()
}

// blobWorkloads: pushes (streamed, chunked, small) and pulls (full, ranges).
func blobWorkloads(ctx context.Context, s *server, z sizes, out results) error {
	c := newClient(s.url, 32)
	defer c.close()
	block := randomBytes(1 << 20)
	// Streamed push: a random 1 MiB block repeated, generated on the fly.
	streamD := streamDigest(block, int64(z.streamBytes))
	t0 := time.Now()
	if err := c.pushStreamed(ctx, "bench/stream", &repeatReader{block: block, size: int64(z.streamBytes)}, streamD); err != nil {
		return fmt.Errorf("streamed push: %w", err)
	}
	out["push_stream_MBps"] = float64(z.streamBytes) / 1e6 / time.Since(t0).Seconds()

	chunked := randomBytes(z.chunkedBytes)
	t0 = time.Now()
	if err := c.pushChunked(ctx, "bench/chunked", chunked, 1<<20); err != nil {
		return fmt.Errorf("chunked push: %w", err)
	}
	out["push_chunked_MBps"] = float64(z.chunkedBytes) / 1e6 / time.Since(t0).Seconds()

	small := runLoad(ctx, 8, time.Hour, int64(z.smallBlobs), func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, err := c.pushBlob(ctx, "bench/small", randomBytes(4096))
		return 4096, err
	})
	if small.firstErr != nil {
		return fmt.Errorf("small pushes: %w", small.firstErr)
	}
	out["push_small_ops"] = small.opsPerSec()

	pull := randomBytes(z.pullBlobBytes)
	pd, err := c.pushBlob(ctx, "bench/pull", pull)
	if err != nil {
		return err
	}
	s.resetPeak()
	r := runLoad(ctx, 16, z.loadDur, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, n, err := c.do(ctx, "GET", "/v2/bench/pull/blobs/"+string(pd), nil, 0, http.StatusOK)
		return n, err
	})
	if r.firstErr != nil {
		return fmt.Errorf("pull: %w", r.firstErr)
	}
	out["pull_c16_MBps"] = r.mbPerSec()
	_, peak := s.rss()
	out["pull_c16_peak_rss_mib"] = float64(peak) / (1 << 20)

	r = runLoad(ctx, 16, z.loadDur, maxOps, func(ctx context.Context, _ int, op int64) (int64, error) {
		off := rand.IntN(z.pullBlobBytes - 65536)
		_, n, err := c.do(ctx, "GET", "/v2/bench/pull/blobs/"+string(pd), nil, 0, http.StatusPartialContent,
			"Range", "bytes="+strconv.Itoa(off)+"-"+strconv.Itoa(off+65535))
		if err == nil && n != 65536 {
			err = fmt.Errorf("range read returned %d bytes", n)
		}
		return n, err
	})
	if r.firstErr != nil {
		return fmt.Errorf("range reads: %w", r.firstErr)
	}
	out["range64k_c16_ops"] = r.opsPerSec()
	return nil
}

// manifestWorkloads: GET and HEAD by tag and digest at several concurrencies.
func manifestWorkloads(ctx context.Context, s *server, z sizes, out results) error {
	c := newClient(s.url, 256)
	defer c.close()
	img, err := c.pushImage(ctx, "bench/manifests", "latest", 2, 4096)
	if err != nil {
		return err
	}
	for _, method := range []string{"GET", "HEAD"} {
		for _, by := range []string{"tag", "digest"} {
			ref := img.tag
			if by == "digest" {
				ref = string(img.manifest)
			}
			for _, conc := range []int{1, 16, 64, 256} {
				r := runLoad(ctx, conc, z.loadDur, maxOps, func(ctx context.Context, _ int, _ int64) (int64, error) {
					_, n, err := c.do(ctx, method, "/v2/bench/manifests/manifests/"+ref, nil, 0, http.StatusOK, "Accept", mtManifest)
					return n, err
				})
				if r.firstErr != nil {
					return fmt.Errorf("manifest %s by %s c=%d: %w", method, by, conc, r.firstErr)
				}
				key := fmt.Sprintf("manifest_%s_%s_c%d", map[string]string{"GET": "get", "HEAD": "head"}[method], by, conc)
				out[key+"_rps"] = r.opsPerSec()
				if conc == 256 && method == "GET" && by == "tag" {
					out[key+"_p99_ms"] = ms(r.lat.percentile(99))
				}
			}
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tagWorkloads re-tags one manifest z.tags times (c=16), then reads pages
// of the tag list and walks it, and walks a catalog of z.repos repositories.
func tagWorkloads(ctx context.Context, s *server, z sizes, out results) error {
	c := newClient(s.url, 32)
	defer c.close()
	img, err := c.pushImage(ctx, "bench/tags", "base", 1, 1024)
	if err != nil {
		return err
	}
	cfgBody := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","bench":%q}`, "base"))
	body := manifest(img.config, len(cfgBody), img.layers, 1024, "base")
	r := runLoad(ctx, 16, time.Hour, int64(z.tags), func(ctx context.Context, _ int, op int64) (int64, error) {
		return 0, c.putManifest(ctx, "bench/tags", fmt.Sprintf("tag-%06d", op-1), body)
	})
	if r.firstErr != nil {
		return fmt.Errorf("tag puts: %w", r.firstErr)
	}
	out["tag_put_rps"] = r.opsPerSec()

	// Pages at the start, middle and end, measured round-robin so that any
	// drift of the machine hits all three alike; the median of 100 each.
	pages := []struct{ key, last string }{
		{"tags_page_start_ms", ""},
		{"tags_page_middle_ms", fmt.Sprintf("tag-%06d", z.tags/2)},
		{"tags_page_end_ms", fmt.Sprintf("tag-%06d", z.tags-101)},
	}
	lat := make([]latencies, len(pages))
	for i := 0; i < 100; i++ {
		for j, p := range pages {
			q := "/v2/bench/tags/tags/list?n=100"
			if p.last != "" {
				q += "&last=" + p.last
			}
			t0 := time.Now()
			if _, _, err := c.do(ctx, "GET", q, nil, 0, http.StatusOK); err != nil {
				return err
			}
			lat[j] = append(lat[j], time.Since(t0))
		}
	}
	for j, p := range pages {
		out[p.key] = ms(lat[j].percentile(50))
	}
	if out["tags_walk_ms"], err = walk(ctx, c, "/v2/bench/tags/tags/list?n=100", z.tags+1); err != nil {
		return err
	}
	t0 := time.Now()
	if _, _, err := c.do(ctx, "GET", "/v2/bench/tags/tags/list", nil, 0, http.StatusOK); err != nil {
		return err
	}
	out["tags_unpaged_ms"] = ms(time.Since(t0))

	// Catalog: z.repos repositories, each with the image mounted and tagged.
	cr := runLoad(ctx, 16, time.Hour, int64(z.repos), func(ctx context.Context, _ int, op int64) (int64, error) {
		repo := fmt.Sprintf("bench/catalog-%05d", op)
		for _, d := range append([]digest.Digest{img.config}, img.layers...) {
			if _, _, err := c.do(ctx, "POST", "/v2/"+repo+"/blobs/uploads/?mount="+string(d)+"&from=bench/tags", nil, 0, http.StatusCreated); err != nil {
				return 0, err
			}
		}
		return 0, c.putManifest(ctx, repo, "latest", body)
	})
	if cr.firstErr != nil {
		return fmt.Errorf("catalog seeding: %w", cr.firstErr)
	}
	out["catalog_walk_ms"], err = walk(ctx, c, "/v2/_catalog?n=100", z.repos+10)
	return err
}

// walk follows Link headers from first to the end and returns the time.
func walk(ctx context.Context, c *client, first string, maxPages int) (float64, error) {
	t0 := time.Now()
	next := first
	for pages := 0; next != ""; pages++ {
		if pages > maxPages {
			return 0, fmt.Errorf("paging %s did not end after %d pages", first, maxPages)
		}
		h, _, err := c.do(ctx, "GET", next, nil, 0, http.StatusOK)
		if err != nil {
			return 0, err
		}
		next = linkNext(h.Get("Link"), c.base)
	}
	return ms(time.Since(t0)), nil
}

func linkNext(link, base string) string {
	if link == "" {
		return ""
	}
	start, end := -1, -1
	for i := 0; i < len(link); i++ {
		if link[i] == '<' && start < 0 {
			start = i
		}
		if link[i] == '>' && end < 0 {
			end = i
		}
	}
	if start < 0 || end < start {
		return ""
	}
	u := link[start+1 : end]
	if len(u) > len(base) && u[:len(base)] == base {
		u = u[len(base):]
	}
	return u
}

// mixedWorkload: z.mixedClients clients for z.mixedDur, 95% pulling one of
// 20 seeded images like a runtime, 5% pushing a new image.
func mixedWorkload(ctx context.Context, s *server, z sizes, out results) error {
	c := newClient(s.url, z.mixedClients)
	defer c.close()
	var imgs []image
	for i := 0; i < 20; i++ {
		img, err := c.pushImage(ctx, fmt.Sprintf("bench/mixed-%02d", i%5), fmt.Sprintf("v%d", i), 2, 1<<20)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	var pushes atomic.Int64
	var mu sync.Mutex
	var pullLat, pushLat latencies
	s.resetPeak()
	r := runLoad(ctx, z.mixedClients, z.mixedDur, maxOps, func(ctx context.Context, w int, op int64) (int64, error) {
		t0 := time.Now()
		if op%20 == 0 { // 5% pushes
			_, err := c.pushImage(ctx, fmt.Sprintf("bench/mixed-%02d", w%5), fmt.Sprintf("push-%d", pushes.Add(1)), 1, 1<<20)
			mu.Lock()
			pushLat = append(pushLat, time.Since(t0))
			mu.Unlock()
			return 0, err
		}
		err := c.pullImage(ctx, imgs[int(op)%len(imgs)])
		mu.Lock()
		pullLat = append(pullLat, time.Since(t0))
		mu.Unlock()
		return 0, err
	})
	_, peak := s.rss()
	out["mixed_ops"] = r.opsPerSec()
	out["mixed_pull_p50_ms"] = ms(pullLat.percentile(50))
	out["mixed_pull_p99_ms"] = ms(pullLat.percentile(99))
	out["mixed_push_p99_ms"] = ms(pushLat.percentile(99))
	out["mixed_errors"] = float64(r.errs)
	out["mixed_peak_rss_mib"] = float64(peak) / (1 << 20)
	if r.errs > 0 {
		fmt.Printf("    mixed load: %d errors, first: %v\n", r.errs, r.firstErr)
	}
	return nil
}

// seedManifests stores n distinct manifests (c=16) for the restart figure.
func seedManifests(ctx context.Context, s *server, n int) error {
	c := newClient(s.url, 32)
	defer c.close()
	img, err := c.pushImage(ctx, "bench/restart", "base", 1, 1024)
	if err != nil {
		return err
	}
	cfgLen := len(fmt.Sprintf(`{"architecture":"amd64","os":"linux","bench":%q}`, "base"))
	r := runLoad(ctx, 16, time.Hour, int64(n), func(ctx context.Context, _ int, op int64) (int64, error) {
		body := manifest(img.config, cfgLen, img.layers, 1024, strconv.FormatInt(op, 10))
		return 0, c.putManifest(ctx, "bench/restart", "m-"+strconv.FormatInt(op, 10), body)
	})
	return r.firstErr
}
