package sqlstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// testManifest commits a config and a layer into repo and returns an image
// manifest over them (not yet put) and the layer's digest.
func testManifest(t testing.TB, s *Store, repo string) (*meta.Manifest, digest.Digest) {
	t.Helper()
	ctx := t.Context()
	cfg, layer := digest.FromString("config"), digest.FromString("layer")
	for _, d := range []digest.Digest{cfg, layer} {
		if err := s.CommitBlob(ctx, repo, d, 6, ""); err != nil {
			t.Fatal(err)
		}
	}
	body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":6},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":6}]}`,
		oci.MediaTypeImageManifest, cfg, layer)
	m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(body)), Body: body, Refs: []oci.Ref{{Digest: cfg, Size: 6, Kind: oci.RefBlob}, {Digest: layer, Size: 6, Kind: oci.RefBlob}}}
	return m, layer
}

// requireNoDanglingTags fails t if a tag points at a manifest that is not
// stored, or a stored manifest lacks its reference rows.
func requireNoDanglingTags(t testing.TB, s *Store) {
	t.Helper()
	rows, err := s.r.Query(`SELECT t.repo, t.name FROM tags t LEFT JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest
		WHERE m.digest IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	dangling, err := scanStrings(rows, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dangling) > 0 {
		t.Fatalf("tags pointing at no manifest: %q", dangling)
	}
	var bare int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM manifests m WHERE NOT EXISTS
		(SELECT 1 FROM manifest_refs r WHERE r.repo = m.repo AND r.manifest = m.digest)`).Scan(&bare); err != nil {
		t.Fatal(err)
	}
	if bare > 0 {
		t.Fatalf("%d manifests without their reference rows", bare)
	}
}

// TestConcurrentPutDeleteManifest races pushes of one manifest (each
// setting a tag) against deletes of it. Whatever the interleaving, no tag
// may be left pointing at a deleted manifest, and a stored manifest keeps
// its references: trivially so on SQLite (one writer), by row locks on
// PostgreSQL.
func TestConcurrentPutDeleteManifest(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			defer s.Close()
			ctx := t.Context()
			m, _ := testManifest(t, s, "r")
			const rounds, putters, deleters = 60, 3, 2
			var wg sync.WaitGroup
			for p := range putters {
				wg.Go(func() {
					for i := range rounds {
						if err := s.PutManifest(ctx, m, []string{fmt.Sprintf("p%d-%d", p, i%4)}); err != nil {
							t.Errorf("PutManifest: %v", err)
							return
						}
					}
				})
			}
			for range deleters {
				wg.Go(func() {
					for range rounds {
						if err := s.DeleteManifest(ctx, "r", m.Digest); err != nil && !errors.Is(err, meta.ErrManifestNotFound) {
							t.Errorf("DeleteManifest: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			requireNoDanglingTags(t, s)
		})
	}
}
