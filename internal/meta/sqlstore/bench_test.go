package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// backend opens an empty store of one kind.
type backend struct {
	name string
	open func(t testing.TB) *Store
}

var backends = []backend{
	{"sqlite", func(t testing.TB) *Store { return openSQLite(t, filepath.Join(t.TempDir(), "meta.db")) }},
	{"postgres", func(t testing.TB) *Store { s, _ := openPostgres(t, PostgresOptions{}); return s }},
}

// benchManifest stores one image manifest in repo with the given tags and
// returns it.
func benchManifest(b *testing.B, s *Store, repo string, tags []string) *meta.Manifest {
	b.Helper()
	ctx := context.Background()
	cfg := digest.FromString("bench config")
	if err := s.CommitBlob(ctx, repo, cfg, 12, ""); err != nil {
		b.Fatal(err)
	}
	body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":12},"layers":[]}`,
		oci.MediaTypeImageManifest, cfg)
	m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(body)), Body: body, Refs: []oci.Ref{{Digest: cfg, Size: 12, Kind: oci.RefBlob}}}
	if err := s.PutManifest(ctx, m, tags); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkGetManifest: the manifest GET/HEAD path (one prepared,
// indexed read) on each backend.
func BenchmarkGetManifest(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			m := benchManifest(b, s, "library/bench", []string{"latest"})
			ctx := context.Background()
			for _, c := range []struct {
				name, ref string
				withBody  bool
			}{
				{"tag/body", "latest", true},
				{"tag/head", "latest", false},
				{"digest/body", string(m.Digest), true},
				{"digest/head", string(m.Digest), false},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						got, err := s.GetManifest(ctx, "library/bench", c.ref, c.withBody)
						if err != nil || got.Digest != m.Digest {
							b.Fatalf("GetManifest = %v, %v", got, err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkGetManifestParallel: manifest GETs by tag from many goroutines
// at once (-cpu sets how many run per core), through the read pool.
func BenchmarkGetManifestParallel(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			m := benchManifest(b, s, "library/bench", []string{"latest"})
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					got, err := s.GetManifest(context.Background(), "library/bench", "latest", true)
					if err != nil || got.Digest != m.Digest {
						b.Errorf("GetManifest = %v, %v", got, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTagsPage pages a 10,000-tag repository at its start and its end:
// with an index range scan both cost the same.
func BenchmarkTagsPage(b *testing.B) {
	const numTags, pageSize = 10_000, 100
	tags := make([]string, numTags)
	for i := range tags {
		tags[i] = fmt.Sprintf("v%05d", i)
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			benchManifest(b, s, "library/many", tags)
			ctx := context.Background()
			for _, c := range []struct {
				name, last, first string
			}{
				{"start", "", tags[0]},
				{"end", tags[numTags-pageSize-1], tags[numTags-pageSize]},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						page, err := s.Tags(ctx, "library/many", c.last, pageSize)
						if err != nil || len(page) != pageSize || page[0] != c.first {
							b.Fatalf("Tags(%q) = %d tags starting %v, %v", c.last, len(page), page[:min(1, len(page))], err)
						}
					}
				})
			}
		})
	}
}
