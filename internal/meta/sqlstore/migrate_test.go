package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/test/pgserver"
)

// TestMigrationProjectIDs upgrades a database holding data from before
// 0005 (audit records and robot permissions by project name) and checks
// that each record and grant goes to the project of its name only if that
// project existed when it was written, and that rebuilding SQLite's
// projects table kept the memberships.
func TestMigrationProjectIDs(t *testing.T) {
	upgradeFrom(t, 5, func(t *testing.T, c *migrationCase) {
		db, ctx, all, exec := c.db, c.ctx, c.all, c.exec
		// "dev" was created at 2000 (a namesake existed before), "ops" at 1000.
		exec(`INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES (7, 'u', 'h', 1, 1)`)
		exec(`INSERT INTO projects (id, name, owner_id, created_at, updated_at) VALUES (3, 'dev', 7, 2000, 2000)`)
		exec(`INSERT INTO projects (id, name, owner_id, created_at, updated_at) VALUES (4, 'ops', 7, 1000, 1000)`)
		exec(`INSERT INTO project_members (project_id, user_id, role, created_at) VALUES (3, 7, 1, 2000)`)
		for _, r := range []struct {
			at      int64
			project string
		}{{1500, "dev"}, {2500, "dev"}, {2500, "ops"}, {2500, "gone"}, {2500, ""}} {
			exec(`INSERT INTO audit_log (at, username, operation, resource_type, resource, project) VALUES (?, 'u', 'push', 'artifact', 'x', ?)`, r.at, r.project)
		}
		exec(`INSERT INTO robots (id, name, level, secret_hash, permissions, created_at, updated_at) VALUES (1, 'robot$old', 'system', 'h', ?, 1500, 3000)`,
			`[{"Project":"dev","Actions":["pull"]},{"Project":"ops","Actions":["pull"]}]`)
		exec(`INSERT INTO robots (id, name, level, secret_hash, permissions, created_at, updated_at) VALUES (2, 'robot$new', 'system', 'h', ?, 2500, 2500)`,
			`[{"Project":"dev","Actions":["pull","push"]},{"Project":"*","Actions":["pull"]},{"Project":"gone","Actions":["pull"]}]`)
		exec(`INSERT INTO robots (id, name, level, secret_hash, permissions, created_at, updated_at) VALUES (3, 'robot$none', 'system', 'h', '[]', 2500, 2500)`)

		if err := applyMigrations(ctx, db, c.dialect, all); err != nil {
			t.Fatal(err)
		}
		var role int
		if err := db.QueryRowContext(ctx, c.b.bind(`SELECT role FROM project_members WHERE project_id = 3 AND user_id = 7`)).Scan(&role); err != nil || role != 1 {
			t.Fatalf("membership after the migration: role %d, %v", role, err)
		}
		rows, err := db.QueryContext(ctx, `SELECT project, at, project_id FROM audit_log ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var p string
			var at, id int64
			if err := rows.Scan(&p, &at, &id); err != nil {
				t.Fatal(err)
			}
			got = append(got, p+"@"+itoa(at)+"="+itoa(id))
		}
		rows.Close()
		if want := []string{"dev@1500=0", "dev@2500=3", "ops@2500=4", "gone@2500=0", "@2500=0"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("audit project ids %q, want %q", got, want)
		}
		for id, want := range map[int][]meta.RobotPermission{
			1: {{ProjectID: 0, Project: "dev", Actions: []string{"pull"}}, {ProjectID: 4, Project: "ops", Actions: []string{"pull"}}},
			2: {{ProjectID: 3, Project: "dev", Actions: []string{"pull", "push"}}, {ProjectID: 0, Project: "*", Actions: []string{"pull"}},
				{ProjectID: 0, Project: "gone", Actions: []string{"pull"}}},
			3: {},
		} {
			var text string
			if err := db.QueryRowContext(ctx, c.b.bind(`SELECT permissions FROM robots WHERE id = ?`), id).Scan(&text); err != nil {
				t.Fatal(err)
			}
			perms := []meta.RobotPermission{}
			if err := json.Unmarshal([]byte(text), &perms); err != nil || !reflect.DeepEqual(perms, want) {
				t.Fatalf("robot %d permissions %s (%v), want %+v", id, text, err, want)
			}
		}
	})
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestMigrationsAcceptGaps: numbers may have gaps (0005 lands before
// another branch's 0004), and a migration that arrives later with a lower
// number than one already applied is applied then, once.
func TestMigrationsAcceptGaps(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "meta.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	one := migration{version: 1, name: "0001_a.sql", sql: "CREATE TABLE a (x INTEGER)"}
	two := migration{version: 2, name: "0002_b.sql", sql: "CREATE TABLE b (x INTEGER)"}
	three := migration{version: 3, name: "0003_c.sql", sql: "CREATE TABLE c (x INTEGER)"}
	for _, ms := range [][]migration{{one, three}, {one, two, three}, {one, two, three}} {
		if err := applyMigrations(ctx, db, sqliteDialect, ms); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d migrations recorded, %v; want 3", n, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO b VALUES (1)`); err != nil {
		t.Fatalf("the late 0002 was not applied: %v", err)
	}
}

// migrationCase is a database of one dialect holding the migrations
// before some version, for a test of those that follow on data written
// in the old schema.
type migrationCase struct {
	db      *sql.DB
	ctx     context.Context
	dialect *dialect
	all     []migration // every migration of the dialect
	b       *binder
	t       *testing.T
}

// exec runs q, bound for the dialect, failing the test on an error.
func (c *migrationCase) exec(q string, args ...any) {
	c.t.Helper()
	if _, err := c.db.ExecContext(c.ctx, c.b.bind(q), args...); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
}

// upgradeFrom runs fn on SQLite and on PostgreSQL, each with the
// migrations before version applied.
func upgradeFrom(t *testing.T, version int, fn func(t *testing.T, c *migrationCase)) {
	for _, d := range []struct {
		dialect *dialect
		open    func(t *testing.T) *sql.DB
	}{
		{sqliteDialect, func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "meta.db")+"?_pragma=foreign_keys(ON)&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			return db
		}},
		{pgDialect, func(t *testing.T) *sql.DB {
			db, err := sql.Open("pgx", pgserver.Database(t))
			if err != nil {
				t.Fatal(err)
			}
			return db
		}},
	} {
		t.Run(d.dialect.name, func(t *testing.T) {
			db := d.open(t)
			defer db.Close()
			c := &migrationCase{db: db, ctx: context.Background(), dialect: d.dialect, b: &binder{d: d.dialect}, t: t}
			var err error
			if c.all, err = loadMigrations(d.dialect.name); err != nil {
				t.Fatal(err)
			}
			var before []migration
			for _, m := range c.all {
				if m.version < version {
					before = append(before, m)
				}
			}
			if err := applyMigrations(c.ctx, db, d.dialect, before); err != nil {
				t.Fatal(err)
			}
			fn(t, c)
		})
	}
}

// TestMigrationUserRobotIDs upgrades a database holding users, robots,
// memberships and an OIDC link from before 0030 (which rebuilds SQLite's
// users and robots tables for AUTOINCREMENT) and checks that every row
// and reference is kept and that the newest deleted ids are not reused.
func TestMigrationUserRobotIDs(t *testing.T) {
	upgradeFrom(t, 30, func(t *testing.T, c *migrationCase) {
		db, ctx := c.db, c.ctx
		c.exec(`INSERT INTO users (id, username, email, password_hash, sysadmin, created_at, updated_at) VALUES (7, 'u', 'u@x', 'h', 1, 1, 2)`)
		c.exec(`INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES (9, 'newest', 'h', 1, 1)`)
		c.exec(`INSERT INTO projects (id, name, owner_id, created_at, updated_at) VALUES (3, 'dev', 7, 1, 1)`)
		c.exec(`INSERT INTO project_members (project_id, user_id, role, created_at) VALUES (3, 7, 2, 1)`)
		c.exec(`INSERT INTO oidc_users (user_id, issuer, subject, secret_hash, secret_set_at, created_at, updated_at) VALUES (7, 'iss', 'sub', '', 0, 1, 1)`)
		c.exec(`INSERT INTO robots (id, name, level, project_id, secret_hash, permissions, created_at, updated_at, creator_type, creator_ref)
			VALUES (4, 'robot$dev+ci', 'project', 3, 'h', '[]', 1, 1, 'local', 7)`)
		if err := applyMigrations(ctx, db, c.dialect, c.all); err != nil {
			t.Fatal(err)
		}
		var name, email, creator string
		var admin bool
		var role, ref, project int64
		if err := db.QueryRowContext(ctx, `SELECT username, email, sysadmin FROM users WHERE id = 7`).Scan(&name, &email, &admin); err != nil || name != "u" || email != "u@x" || !admin {
			t.Fatalf("user after the migration: %q %q %v, %v", name, email, admin, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT role FROM project_members WHERE project_id = 3 AND user_id = 7`).Scan(&role); err != nil || role != 2 {
			t.Fatalf("membership after the migration: role %d, %v", role, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT creator_type, creator_ref, project_id FROM robots WHERE id = 4`).Scan(&creator, &ref, &project); err != nil ||
			creator != "local" || ref != 7 || project != 3 {
			t.Fatalf("robot after the migration: %q %d %d, %v", creator, ref, project, err)
		}
		// The newest of each is deleted; the next row must not get its id.
		// (PostgreSQL's identity sequences did not see the ids written
		// above; the shared suite checks them through the store.)
		c.exec(`DELETE FROM users WHERE id = 9`)
		c.exec(`DELETE FROM robots WHERE id = 4`)
		var uid, rid int64
		if c.dialect != sqliteDialect {
			uid, rid = 10, 5
		} else if err := db.QueryRowContext(ctx, `INSERT INTO users (username, password_hash, created_at, updated_at) VALUES ('later', 'h', 1, 1) RETURNING id`).Scan(&uid); err != nil || uid <= 9 {
			t.Fatalf("new user id %d (%v), want > 9", uid, err)
		} else if err := db.QueryRowContext(ctx, `INSERT INTO robots (name, level, secret_hash, created_at, updated_at) VALUES ('robot$later', 'system', 'h', 1, 1) RETURNING id`).Scan(&rid); err != nil || rid <= 4 {
			t.Fatalf("new robot id %d (%v), want > 4", rid, err)
		}
		// Deleting the user still cascades to its memberships and OIDC link.
		c.exec(`DELETE FROM users WHERE id = 7`)
		var n int
		if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM project_members) + (SELECT COUNT(*) FROM oidc_users)`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d memberships and OIDC links left after deleting the user (%v)", n, err)
		}
	})
}
