package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/gc"
)

// gcFixture fills s with manifests images in repos repositories: each
// image has a config and layers layers of its own (blobs rows and links),
// a body of about a kilobyte, and a tag unless it is one of every
// untaggedEvery; and strays links nothing references. It writes in
// transactions of 500 images, each within the store's transaction bound
// even on a loaded PostgreSQL (one transaction of 320,000 statements was
// not).
func gcFixture(tb testing.TB, s *Store, repos, images, layers, untaggedEvery, strays int) {
	tb.Helper()
	ctx := context.Background()
	old := time.Now().Add(-24 * time.Hour).UnixMilli()
	inTx := func(fn func(exec func(q string, args ...any) error) error) {
		tb.Helper()
		if err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
			return fn(func(q string, args ...any) error { _, err := tx.exec(ctx, q, args...); return err })
		}); err != nil {
			tb.Fatal(err)
		}
	}
	blobAt := func(exec func(q string, args ...any) error, repo string, d digest.Digest, size int64) error {
		if err := exec(`INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?)`, string(d), size, old); err != nil {
			return err
		}
		return exec(`INSERT INTO repository_blobs (repo, digest, created_at) VALUES (?, ?, ?)`, repo, string(d), old)
	}
	inTx(func(exec func(q string, args ...any) error) error {
		for r := range repos {
			if err := exec(`INSERT INTO repositories (name, created_at) VALUES (?, ?)`, fmt.Sprintf("p/r%d", r), old); err != nil {
				return err
			}
		}
		for i := range strays {
			if err := blobAt(exec, fmt.Sprintf("p/r%d", i%repos), digest.FromString(fmt.Sprintf("stray %d", i)), 10); err != nil {
				return err
			}
		}
		return nil
	})
	pad := strings.Repeat("x", 700)
	const chunk = 500
	for first := 0; first < images; first += chunk {
		inTx(func(exec func(q string, args ...any) error) error {
			for i := first; i < min(first+chunk, images); i++ {
				repo := fmt.Sprintf("p/r%d", i%repos)
				refs := make([]digest.Digest, 0, layers+1)
				for l := range layers + 1 {
					d := digest.FromString(fmt.Sprintf("blob %d/%d", i, l))
					if err := blobAt(exec, repo, d, int64(1000+l)); err != nil {
						return err
					}
					refs = append(refs, d)
				}
				body := fmt.Sprintf(`{"schemaVersion":2,"config":%q,"layers":%q,"annotations":{"pad":%q}}`, refs[0], refs[1:], pad)
				m := digest.FromString(body)
				if err := exec(`INSERT INTO manifests (repo, digest, media_type, size, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
					repo, string(m), "application/vnd.oci.image.manifest.v1+json", len(body), []byte(body), old); err != nil {
					return err
				}
				for _, d := range refs {
					if err := exec(`INSERT INTO manifest_refs (repo, manifest, ref, kind) VALUES (?, ?, ?, 0)`, repo, string(m), string(d)); err != nil {
						return err
					}
				}
				if i%untaggedEvery != 0 {
					if err := exec(`INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?)`,
						repo, fmt.Sprintf("t%d", i), string(m), old); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
}

// BenchmarkGCMark: garbage collection's mark phase (a dry run with
// delete_untagged) over 100,000 blobs and 20,000 manifests.
func BenchmarkGCMark(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			// 20,000 images of a config and 4 layers (100,000 blobs), one
			// in 10 untagged, and 1,000 stray links.
			gcFixture(b, s, 200, 20000, 4, 10, 1000)
			bs, err := fs.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			c := &gc.Collector{Meta: s, Blobs: bs}
			var res gc.Result
			b.ResetTimer()
			for b.Loop() {
				res, err = c.Run(context.Background(), gc.Params{DeleteUntagged: true, DryRun: true, Workers: 1}, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if res.PurgedManifests != 2000 || res.PurgedBlobs != 2000*5+1000 {
				b.Fatalf("dry run found %+v", res)
			}
		})
	}
}
