package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.ProjectSettingsStore = (*Store)(nil)

// errPublicMetadata: "public" is the projects row's column, never a
// metadata row, so the two cannot disagree.
var errPublicMetadata = errors.New(`sqlstore: "public" is set with ProjectChange.Public, not as metadata`)

// CreateProjectWith implements meta.ProjectSettingsStore.
func (s *Store) CreateProjectWith(ctx context.Context, p *meta.Project, c meta.ProjectChange) error {
	if c.Public != nil {
		p.Public = *c.Public
	}
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if err := createProject(ctx, tx, p); err != nil {
			return err
		}
		return applyChange(ctx, tx, p.ID, c, t2ms(p.CreatedAt))
	})
}

// ChangeProject implements meta.ProjectSettingsStore.
func (s *Store) ChangeProject(ctx context.Context, id int64, c meta.ProjectChange) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		q, args := `UPDATE projects SET updated_at = ? WHERE id = ?`, []any{t, id}
		if c.Public != nil {
			q, args = `UPDATE projects SET public = ?, updated_at = ? WHERE id = ?`, []any{b2i(*c.Public), t, id}
		}
		if err := affected(tx.exec(ctx, q, args...)); err != nil {
			return err
		}
		return applyChange(ctx, tx, id, c, t)
	})
}

// applyChange writes c's settings (all but Public) for project id.
func applyChange(ctx context.Context, tx tx, id int64, c meta.ProjectChange, t int64) error {
	for _, name := range slices.Sorted(maps.Keys(c.Metadata)) { // a stable order: no deadlocks between writers
		if name == "public" {
			return errPublicMetadata
		}
		q := `INSERT INTO project_metadata (project_id, name, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
		if c.AddOnly {
			q = `INSERT INTO project_metadata (project_id, name, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`
		}
		if _, err := tx.exec(ctx, q, id, name, c.Metadata[name], t, t); isUniqueViolation(err) {
			return meta.ErrConflict
		} else if err != nil {
			return err
		}
	}
	if l := c.CVEAllowlist; l != nil {
		items, err := json.Marshal(nonNil(l.Items))
		if err != nil {
			return err
		}
		var expires sql.NullInt64
		if l.ExpiresAt != nil {
			expires = sql.NullInt64{Int64: *l.ExpiresAt, Valid: true}
		}
		if _, err := tx.exec(ctx, `INSERT INTO project_cve_allowlists (project_id, expires_at, items, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET expires_at = excluded.expires_at,
			items = excluded.items, updated_at = excluded.updated_at`, id, expires, string(items), t, t); err != nil {
			return err
		}
	}
	if c.StorageLimit != nil {
		if _, err := tx.exec(ctx, `INSERT INTO project_quotas (project_id, storage_limit, created_at, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (project_id) DO UPDATE SET storage_limit = excluded.storage_limit, updated_at = excluded.updated_at`,
			id, *c.StorageLimit, t, t); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}

// DeleteProjectMetadata implements meta.ProjectSettingsStore.
func (s *Store) DeleteProjectMetadata(ctx context.Context, id int64, name string) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		if err := affected(tx.exec(ctx, `DELETE FROM project_metadata WHERE project_id = ? AND name = ?`, id, name)); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE projects SET updated_at = ? WHERE id = ?`, now(), id)
		return err
	})
}

// inList is "(?, ?, …)" for n values.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// ProjectSettings implements meta.ProjectSettingsStore.
func (s *Store) ProjectSettings(ctx context.Context, ids ...int64) (_ map[int64]*meta.ProjectSettings, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := make(map[int64]*meta.ProjectSettings, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := inList(len(ids))
	if err := s.eachRow(ctx, func(rows *sql.Rows) error {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		out[id] = &meta.ProjectSettings{Metadata: map[string]string{}, StorageLimit: meta.UnlimitedStorage,
			CVEAllowlist: meta.CVEAllowlist{ProjectID: id, Items: []string{}}}
		return nil
	}, `SELECT id FROM projects WHERE id IN `+in, args...); err != nil {
		return nil, err
	}
	if err := s.eachRow(ctx, func(rows *sql.Rows) error {
		var id int64
		var name, value string
		if err := rows.Scan(&id, &name, &value); err != nil {
			return err
		}
		if ps := out[id]; ps != nil {
			ps.Metadata[name] = value
		}
		return nil
	}, `SELECT project_id, name, value FROM project_metadata WHERE project_id IN `+in, args...); err != nil {
		return nil, err
	}
	if err := s.eachRow(ctx, func(rows *sql.Rows) error {
		var l meta.CVEAllowlist
		var expires sql.NullInt64
		var items string
		var c, u int64
		if err := rows.Scan(&l.ID, &l.ProjectID, &expires, &items, &c, &u); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(items), &l.Items); err != nil {
			return fmt.Errorf("project %d: CVE allowlist items: %w", l.ProjectID, err)
		}
		if expires.Valid {
			l.ExpiresAt = &expires.Int64
		}
		l.Items, l.CreatedAt, l.UpdatedAt = nonNil(l.Items), ms2t(c), ms2t(u)
		if ps := out[l.ProjectID]; ps != nil {
			ps.CVEAllowlist = l
		}
		return nil
	}, `SELECT id, project_id, expires_at, items, created_at, updated_at FROM project_cve_allowlists WHERE project_id IN `+in, args...); err != nil {
		return nil, err
	}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var id, limit int64
		if err := rows.Scan(&id, &limit); err != nil {
			return err
		}
		if ps := out[id]; ps != nil {
			ps.StorageLimit = limit
		}
		return nil
	}, `SELECT project_id, storage_limit FROM project_quotas WHERE project_id IN `+in, args...)
	return out, err
}

// eachRow runs a read query and calls fn for each row.
func (s *Store) eachRow(ctx context.Context, fn func(*sql.Rows) error, q string, args ...any) error {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ProjectMemberCounts implements meta.ProjectSettingsStore.
func (s *Store) ProjectMemberCounts(ctx context.Context, projectID int64) (_ map[int]int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := map[int]int64{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var role int
		var n int64
		if err := rows.Scan(&role, &n); err != nil {
			return err
		}
		out[role] = n
		return nil
	}, `SELECT role, COUNT(*) FROM project_members WHERE project_id = ? GROUP BY role`, projectID)
	return out, err
}

// projectArtifactListing is the keys of ProjectArtifacts: those of
// Artifacts, and the repository's full name.
var projectArtifactListing = func() listing {
	l := maps.Clone(artifactListing)
	l["repository_name"] = column{expr: "m.repo"}
	return l
}()

// ProjectArtifacts implements meta.ProjectSettingsStore.
func (s *Store) ProjectArtifacts(ctx context.Context, project string, q meta.ProjectArtifactQuery) (_ []meta.ProjectArtifact, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	where, args, err := s.where(projectArtifactListing, q.ListQuery, []string{`m.repo >= ? AND m.repo < ?` + topLevel}, projectRange(project))
	if err != nil {
		return nil, 0, err
	}
	order, err := projectArtifactListing.orderBy(q.ListQuery, "m.created_at DESC, m.repo, m.digest")
	if err != nil {
		return nil, 0, err
	}
	from := ` FROM manifests m WHERE ` + where
	if q.LatestInRepository { // the newest match of each repository
		from = ` FROM manifests m JOIN (SELECT m.repo AS repo, m.digest AS digest,
			ROW_NUMBER() OVER (PARTITION BY m.repo ORDER BY m.created_at DESC, m.digest) AS n
			FROM manifests m WHERE ` + where + `) l ON l.repo = m.repo AND l.digest = m.digest AND l.n = 1`
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	out := []meta.ProjectArtifact{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var repo string
		var a meta.ArtifactInfo
		var d string
		var pushed, pulled int64
		if err := rows.Scan(&repo, &d, &a.MediaType, &a.ArtifactType, &pushed, &a.Size, &pulled, &a.RepositoryID); err != nil {
			return err
		}
		a.Digest, a.PushedAt, a.PulledAt = digest.Digest(d), ms2t(pushed), ms2t(pulled)
		if !q.WithoutTags {
			a.Tags = []meta.TagInfo{}
		}
		out = append(out, meta.ProjectArtifact{Repo: repo, ArtifactInfo: a})
		return nil
	}, `SELECT m.repo, `+artifactCols+from+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil || q.WithoutTags {
		return out, total, err
	}
	return out, total, s.attachProjectTags(ctx, project, out)
}

// attachProjectTags fills in the tags of arts, artifacts of project's
// repositories, with one query.
func (s *Store) attachProjectTags(ctx context.Context, project string, arts []meta.ProjectArtifact) error {
	if len(arts) == 0 {
		return nil
	}
	type key struct{ repo, digest string }
	byKey := make(map[key]*meta.ProjectArtifact, len(arts))
	digests := map[string]bool{}
	args := projectRange(project)
	for i := range arts {
		d := string(arts[i].Digest)
		byKey[key{arts[i].Repo, d}] = &arts[i]
		if !digests[d] {
			digests[d] = true
			args = append(args, d)
		}
	}
	return s.eachRow(ctx, func(rows *sql.Rows) error {
		var repo, d string
		var t meta.TagInfo
		var at, pulled int64
		if err := rows.Scan(&repo, &t.Name, &d, &at, &pulled); err != nil {
			return err
		}
		t.Digest, t.PushedAt, t.PulledAt = digest.Digest(d), ms2t(at), ms2t(pulled)
		if a := byKey[key{repo, d}]; a != nil {
			a.Tags = append(a.Tags, t)
		}
		return nil
	}, `SELECT repo, name, digest, updated_at, pull_time FROM tags WHERE repo >= ? AND repo < ? AND digest IN `+inList(len(digests))+
		` ORDER BY repo, name`, args...)
}
