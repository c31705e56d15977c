package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestQuotaSuiteSQLite(t *testing.T) {
	metatest.RunQuota(t, func(t *testing.T) metatest.QuotaStore {
		s := openSQLite(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestQuotaSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunQuota(t, func(t *testing.T) metatest.QuotaStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMigrationProjectUsage upgrades a database holding links and
// manifests from before 0015: every link counts, each digest once per
// project (a manifest's bytes also linked as a blob included), and the
// accounting goes on from there.
func TestMigrationProjectUsage(t *testing.T) {
	upgradeFrom(t, 15, func(t *testing.T, c *migrationCase) {
		db, ctx, all, exec := c.db, c.ctx, c.all, c.exec
		for _, r := range []string{"p/a", "p/b/c", "q/x", "top"} {
			exec(`INSERT INTO repositories (name, created_at) VALUES (?, 1)`, r)
		}
		for d, size := range map[string]int{"sha256:l1": 100, "sha256:l2": 20, "sha256:m1": 7} {
			exec(`INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, 1)`, d, size)
		}
		for _, l := range [][2]string{{"p/a", "sha256:l1"}, {"p/b/c", "sha256:l1"}, {"p/b/c", "sha256:l2"},
			{"q/x", "sha256:l1"}, {"top", "sha256:l2"}, {"p/a", "sha256:m1"}} {
			exec(`INSERT INTO repository_blobs (repo, digest, created_at) VALUES (?, ?, 1)`, l[0], l[1])
		}
		for _, m := range []string{"p/a", "p/b/c", "q/x"} {
			exec(`INSERT INTO manifests (repo, digest, media_type, size, body, created_at) VALUES (?, 'sha256:m1', 'x', 7, ?, 1)`,
				m, []byte("1234567"))
		}
		if err := applyMigrations(ctx, db, c.dialect, all); err != nil {
			t.Fatal(err)
		}
		s, err := newStore(ctx, c.dialect, db, db, 0)
		if err != nil {
			t.Fatal(err)
		}
		for project, want := range map[string]int64{"p": 127, "q": 107, "": 20, "none": 0} {
			kept, err := s.ProjectStorageUsed(ctx, project)
			if err != nil {
				t.Fatal(err)
			}
			recount, err := s.RecountProjectUsage(ctx, project)
			if err != nil {
				t.Fatal(err)
			}
			if kept != want || recount != want {
				t.Errorf("project %q: kept %d, recount %d, want %d", project, kept, recount, want)
			}
		}
		// Accounting goes on: p/b/c's manifest references nothing
		// (no manifest_refs), so deleting it releases its bytes only
		// where p/a still holds them: nothing.
		if err := s.DeleteRepository(ctx, "p/b/c"); err != nil {
			t.Fatal(err)
		}
		if kept, _ := s.ProjectStorageUsed(ctx, "p"); kept != 107 {
			t.Errorf("after deleting p/b/c: %d, want 107", kept)
		}
	})
}
