package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/test/pgserver"
)

// catalogSuite checks the Catalog queries, which are written once for
// SQLite and PostgreSQL.
func catalogSuite(t *testing.T, s *Store) {
	ctx := context.Background()
	put := func(repo, body string, refs []oci.Ref, tags ...string) digest.Digest {
		t.Helper()
		m := &meta.Manifest{Repo: repo, Digest: digest.FromString(body), MediaType: oci.MediaTypeImageManifest,
			Size: int64(len(body)), Body: []byte(body), ArtifactType: "application/vnd.oci.image.config.v1+json", Refs: refs}
		if err := s.PutManifest(ctx, m, tags); err != nil {
			t.Fatal(err)
		}
		return m.Digest
	}
	layer := digest.FromString("layer")
	if err := s.CommitBlob(ctx, "p/a", layer, 100, ""); err != nil {
		t.Fatal(err)
	}
	d := put("p/a", "one", []oci.Ref{{Digest: layer, Size: 100}}, "latest", "v1")
	put("p/b", "two", nil)
	put("q_x/c", "three", nil) // "_" must not act as a LIKE wildcard for project "q_x" vs "qax"

	repos, total, err := s.ProjectRepositories(ctx, "p", meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	if err != nil || total != 2 || len(repos) != 2 || repos[0].Name != "p/a" || repos[0].ArtifactCount != 1 {
		t.Fatalf("ProjectRepositories: %+v %d %v", repos, total, err)
	}
	if n, err := s.RepositoryCount(ctx, "qax"); err != nil || n != 0 {
		t.Errorf("RepositoryCount(qax) = %d, %v", n, err)
	}
	arts, total, err := s.Artifacts(ctx, "p/a", meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	if err != nil || total != 1 || arts[0].Digest != d || arts[0].Size != 3+100 || len(arts[0].Tags) != 2 {
		t.Fatalf("Artifacts: %+v %d %v", arts, total, err)
	}
	if err := s.CreateTag(ctx, "p/a", "stable", d); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTag(ctx, "p/a", "stable", d); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("CreateTag twice: %v", err)
	}
	if a, err := s.Artifact(ctx, "p/a", d); err != nil || len(a.Tags) != 3 {
		t.Errorf("Artifact: %+v %v", a, err)
	}
	if err := s.DeleteRepository(ctx, "p/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Repository(ctx, "p/a"); !errors.Is(err, meta.ErrRepoNotFound) {
		t.Errorf("Repository after delete: %v", err)
	}
	if _, err := s.BlobSize(ctx, "p/a", layer); err == nil {
		t.Error("blob link survived DeleteRepository")
	}
}

func TestCatalogSQLite(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	catalogSuite(t, s)
}

func TestCatalogPostgres(t *testing.T) {
	pgserver.Require(t)
	s, _ := openPostgres(t, PostgresOptions{})
	defer s.Close()
	catalogSuite(t, s)
}
