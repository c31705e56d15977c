package proxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/proxy"
)

func ref(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushIndex pushes an index of two platforms (linux/amd64, linux/arm64)
// to ref and returns it.
func pushIndex(t testing.TB, to string) v1.ImageIndex {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := remote.WriteIndex(ref(t, to), idx, remote.WithAuth(upAuth)); err != nil {
		t.Fatal(err)
	}
	return idx
}

func pushImage(t testing.TB, to string, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, to), img, remote.WithAuth(upAuth)); err != nil {
		t.Fatal(err)
	}
	return img
}

// pullImage pulls every blob of an image (a client's pull) and checks them.
func pullImage(t testing.TB, r string, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := remote.Image(ref(t, r), opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", r, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verified against its digest
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("pull %s: layer: %v", r, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := img.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestIndexDigestKept: an index is cached with its original bytes (digest
// equal to the upstream's), and each platform's manifest is fetched only
// when it is first pulled.
func TestIndexDigestKept(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, nil)
	idx := pushIndex(t, up.host+"/lib/multi:v1")
	want, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	var amd, arm v1.Hash
	for _, d := range im.Manifests {
		if d.Platform.Architecture == "amd64" {
			amd = d.Digest
		} else {
			arm = d.Digest
		}
	}

	pullImage(t, b.host+"/hub/lib/multi:v1", remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	desc, err := remote.Get(ref(t, b.host+"/hub/lib/multi:v1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := idx.RawManifest()
	if desc.Digest != want || !bytes.Equal(desc.Manifest, raw) {
		t.Fatalf("index through berth: %s, upstream's %s (bytes equal: %v)", desc.Digest, want, bytes.Equal(desc.Manifest, raw))
	}
	ctx := context.Background()
	m, err := b.meta.GetManifest(ctx, "hub/lib/multi", want.String(), true)
	if err != nil || !bytes.Equal(m.Body, raw) {
		t.Fatalf("stored index: %v", err)
	}
	if _, err := b.meta.GetManifest(ctx, "hub/lib/multi", amd.String(), false); err != nil {
		t.Fatalf("pulled platform not cached: %v", err)
	}
	if _, err := b.meta.GetManifest(ctx, "hub/lib/multi", arm.String(), false); !errors.Is(err, meta.ErrManifestNotFound) {
		t.Fatalf("the platform not pulled is cached already (%v): it must be fetched lazily", err)
	}
	if n := up.count("GET", "/v2/lib/multi/manifests/"+arm.String()); n != 0 {
		t.Fatalf("arm64 manifest fetched %d times before it was pulled", n)
	}
	pullImage(t, b.host+"/hub/lib/multi@"+want.String(), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if _, err := b.meta.GetManifest(ctx, "hub/lib/multi", arm.String(), false); err != nil {
		t.Fatalf("arm64 not cached after its pull: %v", err)
	}
	if n := up.count("GET", "/v2/lib/multi/manifests/"+arm.String()); n != 1 {
		t.Fatalf("arm64 manifest fetched %d times, want 1", n)
	}
	// The index by digest is now served locally.
	before := up.count("GET", "/v2/lib/multi/manifests/"+want.String())
	if _, err := remote.Get(ref(t, b.host+"/hub/lib/multi@"+want.String())); err != nil {
		t.Fatal(err)
	}
	if n := up.count("GET", "/v2/lib/multi/manifests/"+want.String()); n != before {
		t.Fatal("a cached digest was fetched again from the upstream")
	}
}

// TestUpstreamDown: with the upstream stopped, what is cached is served
// (by tag and by digest) and what is not fails fast with an OCI error.
func TestUpstreamDown(t *testing.T) {
	up := startUpstream(t)
	const timeout = 2 * time.Second
	b := startBerth(t, up, timeout, nil)
	img := pushImage(t, up.host+"/lib/app:1", 64<<10)
	pushImage(t, up.host+"/lib/app:2", 64<<10)
	pullImage(t, b.host+"/hub/lib/app:1")
	d, _ := img.Digest()
	up.stop()

	start := time.Now()
	got := pullImage(t, b.host+"/hub/lib/app:1")
	if gd, _ := got.Digest(); gd != d {
		t.Fatalf("cached tag served as %s, want %s", gd, d)
	}
	pullImage(t, b.host+"/hub/lib/app@"+d.String())
	t.Logf("cached image pulled with the upstream down in %s", time.Since(start))

	for _, r := range []string{"/v2/hub/lib/app/manifests/2", "/v2/hub/lib/other/manifests/latest",
		"/v2/hub/lib/app/blobs/sha256:" + hex.EncodeToString(make([]byte, 32))} {
		start = time.Now()
		resp, err := http.Get(b.srv.URL + r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		t.Logf("uncached %s with the upstream down: %d in %s: %s", r, resp.StatusCode, took, body)
		if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("UNAVAILABLE")) ||
			!bytes.Contains(body, []byte("not cached")) {
			t.Errorf("%s: %d %s, want 503 UNAVAILABLE saying it is not cached", r, resp.StatusCode, body)
		}
		if took > timeout+time.Second {
			t.Errorf("%s took %s, bound %s", r, took, timeout)
		}
	}
}

// TestConcurrentFirstPull: eight clients pulling one uncached blob at once
// fetch it from the upstream once, and all get the right bytes.
func TestConcurrentFirstPull(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, nil)
	img := pushImage(t, up.host+"/lib/big:1", 8<<20)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	if _, err := remote.Get(ref(t, b.host+"/hub/lib/big:1")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			resp, err := http.Get(b.srv.URL + "/v2/hub/lib/big/blobs/" + ld.String())
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			if _, err := io.Copy(h, resp.Body); err != nil {
				errs <- err
				return
			}
			if resp.StatusCode != 200 || "sha256:"+hex.EncodeToString(h.Sum(nil)) != ld.String() {
				errs <- errors.New("wrong blob: " + resp.Status)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := up.count("GET", "/v2/lib/big/blobs/"+ld.String()); n != 1 {
		t.Errorf("the blob was fetched %d times from the upstream, want 1", n)
	}
	if _, err := b.meta.BlobSize(context.Background(), "hub/lib/big", digest.Digest(ld.String())); err != nil {
		t.Errorf("blob not cached: %v", err)
	}
}

// TestPushRefused: a push into a proxy-cache project is 403 DENIED; the
// normal project beside it takes pushes.
func TestPushRefused(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, nil)
	img, _ := random.Image(1024, 1)
	err := remote.Write(ref(t, b.host+"/hub/lib/mine:1"), img)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden || len(te.Errors) == 0 || te.Errors[0].Code != transport.DeniedErrorCode {
		t.Fatalf("push into a proxy project: %v, want 403 DENIED", err)
	}
	if err := remote.Write(ref(t, b.host+"/direct/mine:1"), img); err != nil {
		t.Fatalf("push into a normal project: %v", err)
	}
}

// TestFilter: a repository outside proxy_cache_filter_pattern is 404.
func TestFilter(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, map[string]string{"proxy_cache_filter_pattern": "lib/**"})
	pushImage(t, up.host+"/lib/a:1", 1024)
	pushImage(t, up.host+"/other/a:1", 1024)
	pullImage(t, b.host+"/hub/lib/a:1")
	_, err := remote.Get(ref(t, b.host+"/hub/other/a:1"))
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		t.Fatalf("filtered-out repository: %v, want 404", err)
	}
}

// TestStaleIfError: whatever the upstream's failure (no answer in time,
// 429, 5xx, auth refused), a cached tag is served; an uncached one gets
// the failure (429 passed on, otherwise 503) within the bound.
func TestStaleIfError(t *testing.T) {
	up := startUpstream(t)
	const timeout = time.Second
	b := startBerth(t, up, timeout, nil)
	img := pushImage(t, up.host+"/lib/app:1", 4<<10)
	pushImage(t, up.host+"/lib/app:2", 4<<10)
	d, _ := img.Digest()
	pullImage(t, b.host+"/hub/lib/app:1")
	for _, tc := range []struct {
		fail, want int
	}{{hang, 503}, {429, 429}, {500, 503}, {502, 503}, {401, 503}, {403, 503}} {
		up.setFail(tc.fail)
		start := time.Now()
		got := pullImage(t, b.host+"/hub/lib/app:1")
		if gd, _ := got.Digest(); gd != d {
			t.Errorf("upstream failing with %d: cached tag served as %s, want %s", tc.fail, gd, d)
		}
		cached := time.Since(start)
		start = time.Now()
		resp, err := http.Get(b.srv.URL + "/v2/hub/lib/app/manifests/2")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		took := time.Since(start)
		t.Logf("upstream failing with %d: cached pull %s; uncached %d in %s", tc.fail, cached, resp.StatusCode, took)
		if resp.StatusCode != tc.want || took > timeout+time.Second {
			t.Errorf("upstream failing with %d: uncached tag answered %d in %s, want %d within %s", tc.fail, resp.StatusCode, took, tc.want, timeout)
		}
	}
}

// TestCorruptBlob: a blob whose bytes do not match its digest is never
// committed, and the client's response is cut short.
func TestCorruptBlob(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, nil)
	img := pushImage(t, up.host+"/lib/bad:1", 1<<20)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	if _, err := remote.Get(ref(t, b.host+"/hub/lib/bad:1")); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	up.corrupt = true
	up.mu.Unlock()
	resp, err := http.Get(b.srv.URL + "/v2/hub/lib/bad/blobs/" + ld.String())
	if err == nil {
		n, rerr := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Errorf("corrupt blob served whole (%d bytes, %s)", n, resp.Status)
		}
	}
	if _, err := b.meta.BlobSize(context.Background(), "hub/lib/bad", digest.Digest(ld.String())); !errors.Is(err, meta.ErrBlobNotFound) {
		t.Fatalf("corrupt blob committed: %v", err)
	}
	up.mu.Lock()
	up.corrupt = false
	up.mu.Unlock()
	pullImage(t, b.host+"/hub/lib/bad:1")
}

// TestTagMoves: a tag moved upstream is followed on the next pull (Harbor:
// a HEAD for every pull by tag); with a TagTTL, pulls within it ask the
// upstream nothing.
func TestTagMoves(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, nil)
	pushImage(t, up.host+"/lib/app:1", 1024)
	pullImage(t, b.host+"/hub/lib/app:1")
	img2 := pushImage(t, up.host+"/lib/app:1", 1024)
	d2, _ := img2.Digest()
	if got, _ := pullImage(t, b.host+"/hub/lib/app:1").Digest(); got != d2 {
		t.Fatalf("moved tag served as %s, want %s", got, d2)
	}

	c := startBerthWith(t, up, proxy.Options{Timeout: 5 * time.Second, TagTTL: time.Minute}, nil)
	pullImage(t, c.host+"/hub/lib/app:1")
	heads := up.count("HEAD", "/v2/lib/app/manifests/1")
	for range 3 {
		pullImage(t, c.host+"/hub/lib/app:1")
	}
	if n := up.count("HEAD", "/v2/lib/app/manifests/1"); n != heads {
		t.Errorf("%d HEADs upstream within the tag TTL, want none", n-heads)
	}
}

// TestMaxUpstreamConn: past max_upstream_conn requests to the upstream,
// an uncached pull is refused with 429 at once (Harbor's answer).
func TestMaxUpstreamConn(t *testing.T) {
	up := startUpstream(t)
	const timeout = 2 * time.Second
	b := startBerth(t, up, timeout, map[string]string{"max_upstream_conn": "1"})
	up.setFail(hang)
	done := make(chan int)
	go func() {
		resp, err := http.Get(b.srv.URL + "/v2/hub/lib/a/manifests/1")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(timeout / 2)
	for up.count("HEAD", "/v2/lib/a/manifests/1") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Get(b.srv.URL + "/v2/hub/lib/b/manifests/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second upstream request with max_upstream_conn 1: %d, want 429", resp.StatusCode)
	}
	if got := <-done; got != http.StatusServiceUnavailable {
		t.Errorf("the hanging request: %d, want 503", got)
	}
}

// TestSpeedLimit: proxy_speed_kb throttles a first pull from the upstream.
func TestSpeedLimit(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, map[string]string{"proxy_speed_kb": "1024"})
	img := pushImage(t, up.host+"/lib/slow:1", 1<<20)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	start := time.Now()
	resp, err := http.Get(b.srv.URL + "/v2/hub/lib/slow/blobs/" + ld.String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	t.Logf("%d bytes at proxy_speed_kb 1024 in %s", n, took)
	if resp.StatusCode != 200 || n < 1<<20 || took < 800*time.Millisecond {
		t.Errorf("%s, %d bytes in %s: want 1 MiB in about 1s", resp.Status, n, took)
	}
}

// TestSharedBlob: a blob berth holds already (pulled through another
// repository) is linked, not fetched again, once the upstream confirms
// the repository has it.
func TestSharedBlob(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, nil)
	img := pushImage(t, up.host+"/lib/one:1", 64<<10)
	if err := remote.Write(ref(t, up.host+"/lib/two:1"), img, remote.WithAuth(upAuth)); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	pullImage(t, b.host+"/hub/lib/one:1")
	heads := up.count("HEAD", "/v2/lib/two/blobs/"+ld.String()) // the push's
	pullImage(t, b.host+"/hub/lib/two:1")
	if n := up.count("GET", "/v2/lib/two/blobs/"+ld.String()); n != 0 {
		t.Errorf("a blob berth held was fetched again %d times", n)
	}
	if n := up.count("HEAD", "/v2/lib/two/blobs/"+ld.String()) - heads; n != 1 {
		t.Errorf("%d HEADs of the shared blob in the second repository, want 1", n)
	}
	// Not in the upstream's repository: not linked, whatever berth holds.
	resp, err := http.Get(b.srv.URL + "/v2/hub/lib/three/blobs/" + ld.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a blob of another repository through one the upstream lacks: %d, want 404", resp.StatusCode)
	}
}

// TestQuota: cached content counts against the project's quota (as in
// Harbor); past the limit a pull is still served, only not kept.
func TestQuota(t *testing.T) {
	up := startUpstream(t)
	b := startBerth(t, up, 5*time.Second, nil)
	limit := int64(16 << 10)
	if err := b.meta.ChangeProject(context.Background(), projectID(t, b, "hub"), meta.ProjectChange{StorageLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	img := pushImage(t, up.host+"/lib/big:1", 64<<10)
	pullImage(t, b.host+"/hub/lib/big:1")
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	if _, err := b.meta.BlobSize(context.Background(), "hub/lib/big", digest.Digest(ld.String())); !errors.Is(err, meta.ErrBlobNotFound) {
		t.Errorf("a layer past the quota was kept: %v", err)
	}
	pullImage(t, b.host+"/hub/lib/big:1") // served again, from the upstream
}

func projectID(t *testing.T, b *berthEnv, name string) int64 {
	t.Helper()
	p, err := b.meta.GetProjectByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// TestStalledUpstream: an upstream that stops sending a blob midway is
// given up on after the timeout: the client's response is cut short,
// nothing is kept, and the next pull fetches it whole.
func TestStalledUpstream(t *testing.T) {
	up := startUpstream(t)
	const timeout = time.Second
	b := startBerth(t, up, timeout, nil)
	img := pushImage(t, up.host+"/lib/stall:1", 256<<10)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	if _, err := remote.Get(ref(t, b.host+"/hub/lib/stall:1")); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	up.stall = true
	up.mu.Unlock()
	start := time.Now()
	resp, err := http.Get(b.srv.URL + "/v2/hub/lib/stall/blobs/" + ld.String())
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	took := time.Since(start)
	if err == nil || took > timeout+2*time.Second {
		t.Errorf("stalled upstream: response ended after %s with %v, want cut short within about %s", took, err, timeout)
	}
	if _, err := b.meta.BlobSize(context.Background(), "hub/lib/stall", digest.Digest(ld.String())); !errors.Is(err, meta.ErrBlobNotFound) {
		t.Fatalf("a partial blob was kept: %v", err)
	}
	up.mu.Lock()
	up.stall = false
	up.mu.Unlock()
	pullImage(t, b.host+"/hub/lib/stall:1")
}
