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

func BenchmarkGetManifest(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "meta.db"))
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
}

// BenchmarkTagsPage pages a 10,000-tag repository at its start and its end:
// with an index range scan both cost the same.
func BenchmarkTagsPage(b *testing.B) {
	const numTags, pageSize = 10_000, 100
	s := openSQLite(b, filepath.Join(b.TempDir(), "meta.db"))
	defer s.Close()
	tags := make([]string, numTags)
	for i := range tags {
		tags[i] = fmt.Sprintf("v%05d", i)
	}
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
}
