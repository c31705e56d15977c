package replication

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/test/distserver"
)

// BenchmarkCopyVsCrane copies the same images between two reference
// registries with replication's copier (rate-limited transport,
// existence checks, accessories, tags after content) and with what
// `crane copy` does (remote.Get then remote.Push), 4 at a time each,
// and reports both throughputs. 40 images of 4 MiB (160 MiB) per pass
// by default; BERTH_BENCH_REPL_IMAGES=200 (make bench-features) copies
// 200 images of 5 MiB, about 1 GiB.
func BenchmarkCopyVsCrane(b *testing.B) {
	const layers, parallel = 2, 4
	images, layerSize := 40, int64(2<<20)
	if v := os.Getenv("BERTH_BENCH_REPL_IMAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			b.Fatalf("BERTH_BENCH_REPL_IMAGES=%q: want 1 to 1000", v)
		}
		images, layerSize = n, 5<<19 // 2.5 MiB layers: 5 MiB an image
	}
	src := distserver.Start(b, distserver.Options{})
	dst := distserver.Start(b, distserver.Options{})
	var digests []v1.Hash
	for i := range images {
		img, err := random.Image(layerSize, layers)
		if err != nil {
			b.Fatal(err)
		}
		ref, _ := name.ParseReference(fmt.Sprintf("%s/bench/img%d:v1", src.Addr(), i), name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			b.Fatal(err)
		}
		d, _ := img.Digest()
		digests = append(digests, d)
	}
	rs, _ := newRegistries(b)
	// The per-registry rate limit (--replication-rate) is politeness to
	// remote registries; here both are local, so it is set out of the
	// way to measure the copy itself.
	rs.Rate, rs.Burst = 1e5, 1000
	ctx := context.Background()
	remoteOf := func(s *distserver.Server) *Remote {
		r := &Registry{Name: s.Addr(), Type: TypeDockerRegistry, URL: s.URL()}
		if err := rs.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
		rm, err := rs.Remote(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		return rm
	}
	srcRM, dstRM := remoteOf(src), remoteOf(dst)
	bytes := float64(int64(images*layers) * layerSize)
	pass := 0
	each := func(b *testing.B, copyOne func(i int, to string) error) {
		for b.Loop() {
			pass++
			var wg sync.WaitGroup
			errs := make(chan error, images)
			sem := make(chan struct{}, parallel)
			for i := range images {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					errs <- copyOne(i, fmt.Sprintf("pass%d/img%d", pass, i))
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(bytes/(1<<20)*float64(b.N)/b.Elapsed().Seconds(), "MiB/s")
	}
	b.Run("crane", func(b *testing.B) {
		each(b, func(i int, to string) error {
			from, _ := name.ParseReference(fmt.Sprintf("%s/bench/img%d:v1", src.Addr(), i), name.Insecure)
			into, _ := name.ParseReference(fmt.Sprintf("%s/%s:v1", dst.Addr(), to), name.Insecure)
			desc, err := remote.Get(from)
			if err != nil {
				return err
			}
			return remote.Push(into, desc)
		})
	})
	b.Run("replication", func(b *testing.B) {
		c := &copier{ctx: ctx, src: srcRM, dst: dstRM, p: &Policy{Override: true}, log: func(string, ...any) {}}
		each(b, func(i int, to string) error {
			from, _ := srcRM.Repository(fmt.Sprintf("bench/img%d", i))
			into, _ := dstRM.Repository(to)
			return c.copyItem(from, into, item{Digest: digests[i].String(), Tags: []string{"v1"}, Listed: true})
		})
	})
}
