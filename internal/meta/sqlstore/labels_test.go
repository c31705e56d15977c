package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestLabelSuiteSQLite(t *testing.T) {
	metatest.RunLabels(t, func(t *testing.T) metatest.LabelStore {
		s := openSQLite(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestLabelSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunLabels(t, func(t *testing.T) metatest.LabelStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMigrationRepositoryIDs upgrades a database holding repositories,
// manifests and tags from before 0008: each repository gets its own id
// (SQLite rebuilds the table), keeps its name and creation time, and is
// joined with its project; manifests and tags start never pulled; new
// repositories get new ids.
func TestMigrationRepositoryIDs(t *testing.T) {
	upgradeFrom(t, 8, func(t *testing.T, c *migrationCase) {
		db, ctx, all, exec := c.db, c.ctx, c.all, c.exec
		exec(`INSERT INTO projects (id, name, owner_id, created_at, updated_at) VALUES (3, 'dev', 0, 1, 1)`)
		for _, r := range []string{"dev/b", "dev/a", "single"} {
			exec(`INSERT INTO repositories (name, created_at) VALUES (?, 1000)`, r)
		}
		exec(`INSERT INTO manifests (repo, digest, media_type, size, body, created_at) VALUES ('dev/a', 'sha256:x', 'm', 1, ?, 1)`, []byte("x"))
		exec(`INSERT INTO tags (repo, name, digest, updated_at) VALUES ('dev/a', 'v1', 'sha256:x', 1)`)
		if err := applyMigrations(ctx, db, c.dialect, all); err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO repositories (name, created_at) VALUES ('dev/c', 2000) ON CONFLICT (name) DO NOTHING`)
		exec(`INSERT INTO repositories (name, created_at) VALUES ('dev/a', 2000) ON CONFLICT (name) DO NOTHING`)
		rows, err := db.QueryContext(ctx, `SELECT r.name, r.id, r.created_at, r.project, r.pull_count, r.description, COALESCE(p.id, 0)
				FROM repositories r LEFT JOIN projects p ON p.name = r.project ORDER BY r.name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		ids := map[int64]string{}
		var names []string
		for rows.Next() {
			var name, project, desc string
			var id, created, pulls, pid int64
			if err := rows.Scan(&name, &id, &created, &project, &pulls, &desc, &pid); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
			wantProject, wantPID, wantCreated := "dev", int64(3), int64(1000)
			if name == "single" {
				wantProject, wantPID = "", 0
			}
			if name == "dev/c" {
				wantCreated = 2000
			}
			if id == 0 || ids[id] != "" || project != wantProject || pid != wantPID || created != wantCreated || pulls != 0 || desc != "" {
				t.Errorf("%s: id %d (also %q), project %q (%d), created %d, pulls %d, description %q", name, id, ids[id], project, pid, created, pulls, desc)
			}
			ids[id] = name
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(names) != 4 {
			t.Fatalf("repositories after the migration: %v", names)
		}
		var mt, tt int64
		if err := db.QueryRowContext(ctx, `SELECT m.pull_time, t.pull_time FROM manifests m JOIN tags t ON t.repo = m.repo AND t.digest = m.digest`).Scan(&mt, &tt); err != nil || mt != 0 || tt != 0 {
			t.Errorf("pull times %d %d, %v", mt, tt, err)
		}
	})
}
