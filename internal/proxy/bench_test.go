package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/proxy"
)

// BenchmarkPull compares a pull (manifest by tag, config, one 1 MiB layer)
// of an image cached by a proxy-cache project with the same pull from a
// normal project of the same berth: the proxy's cost on a hit is one HEAD
// to the upstream for the tag (pulls by digest ask nothing). Run:
//
//	go test -run '^$' -bench Pull -benchtime 200x ./internal/proxy
func BenchmarkPull(b *testing.B) {
	up := startUpstream(b)
	be := startBerth(b, up, 5*time.Second, nil)
	img := pushImage(b, up.host+"/lib/app:1", 1<<20)
	if err := remote.Write(ref(b, be.host+"/direct/lib/app:1"), img); err != nil {
		b.Fatal(err)
	}
	pullImage(b, be.host+"/hub/lib/app:1") // fills the cache
	d, _ := img.Digest()
	for _, bc := range []struct{ name, repo, ref string }{
		{"direct-tag", "direct/lib/app", "1"},
		{"proxy-hit-tag", "hub/lib/app", "1"},
		{"direct-digest", "direct/lib/app", d.String()},
		{"proxy-hit-digest", "hub/lib/app", d.String()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				pullHTTP(b, be.srv.URL, bc.repo, bc.ref)
			}
		})
	}
}

// BenchmarkHitRatio alternates a direct pull and a proxy-cache hit (both
// by tag) and reports the ratio of their medians, less sensitive to a
// busy machine than two separate runs; with-head asks the upstream for the
// tag on every pull (Harbor's way, --proxy-cache-tag-ttl 0), tag-ttl
// trusts a tag confirmed in the last 5s (the default):
//
//	go test -run '^$' -bench HitRatio -benchtime 200x ./internal/proxy
func BenchmarkHitRatio(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"with-head", 0}, {"tag-ttl", 5 * time.Second}} {
		b.Run(bc.name, func(b *testing.B) { hitRatio(b, bc.ttl) })
	}
}

func hitRatio(b *testing.B, ttl time.Duration) {
	up := startUpstream(b)
	be := startBerthWith(b, up, proxy.Options{Timeout: 5 * time.Second, TagTTL: ttl}, nil)
	img := pushImage(b, up.host+"/lib/app:1", 1<<20)
	if err := remote.Write(ref(b, be.host+"/direct/lib/app:1"), img); err != nil {
		b.Fatal(err)
	}
	pullImage(b, be.host+"/hub/lib/app:1")
	var direct, hit []time.Duration
	for b.Loop() {
		start := time.Now()
		pullHTTP(b, be.srv.URL, "direct/lib/app", "1")
		mid := time.Now()
		pullHTTP(b, be.srv.URL, "hub/lib/app", "1")
		direct, hit = append(direct, mid.Sub(start)), append(hit, time.Since(mid))
	}
	md, mh := median(direct), median(hit)
	b.ReportMetric(float64(md.Microseconds()), "direct-µs")
	b.ReportMetric(float64(mh.Microseconds()), "hit-µs")
	b.ReportMetric(float64(mh)/float64(md), "ratio")
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// pullHTTP pulls an image's manifest and blobs as a client does.
func pullHTTP(b *testing.B, base, repo, ref string) {
	get := func(path string, accept string) []byte {
		req, _ := http.NewRequest(http.MethodGet, base+"/v2/"+repo+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return body
	}
	var m v1.Manifest
	if err := json.Unmarshal(get("/manifests/"+ref, "application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json"), &m); err != nil {
		b.Fatal(err)
	}
	get("/blobs/"+m.Config.Digest.String(), "")
	for _, l := range m.Layers {
		get("/blobs/"+l.Digest.String(), "")
	}
}
