package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

var _ meta.Catalog = (*Store)(nil)

// notIndexChild keeps manifests that no index in the same repository
// references: Harbor's "top-level" artifacts.
const notIndexChild = ` AND NOT EXISTS (SELECT 1 FROM manifest_refs c WHERE c.repo = m.repo AND c.ref = m.digest AND c.kind = 1)`

// topLevelCount is the number of top-level artifacts (topLevel) of the
// repository named by the SQL expression repo, computed without testing
// every manifest: all manifests less those that are not top-level, which
// can only be among the candidates (an index's children, manifests with a
// subject, manifests with a cosign-shaped tag), each found by an index.
// UNION ALL and COUNT(DISTINCT): a UNION makes SQLite merge the parts in
// digest order, read from the primary key, all manifests of the
// repository.
// At 10,000 artifacts this is a few ms where testing topLevel on every
// row takes tens (the web UI's repository page counts twice).
func topLevelCount(repo string) string {
	return `((SELECT COUNT(*) FROM manifests m WHERE m.repo = ` + repo + `) -
		(SELECT COUNT(DISTINCT m.digest) FROM (SELECT ref AS digest FROM manifest_refs WHERE repo = ` + repo + ` AND kind = 1
			UNION ALL SELECT digest FROM manifests WHERE repo = ` + repo + ` AND subject IS NOT NULL
			UNION ALL SELECT digest FROM tags WHERE repo = ` + repo + ` AND name >= 'sha256-' AND name < 'sha256.') c
		CROSS JOIN manifests m WHERE m.repo = ` + repo + ` AND m.digest = c.digest AND NOT (1 = 1` + topLevel + `)))`
}

var repoInfoCols = `r.name, r.created_at,
	` + topLevelCount("r.name") + `,
	COALESCE((SELECT MAX(m.created_at) FROM manifests m WHERE m.repo = r.name), 0),
	COALESCE((SELECT MAX(t.updated_at) FROM tags t WHERE t.repo = r.name), 0),
	r.id, r.description, r.pull_count, r.updated_at`

func scanRepoInfo(row interface{ Scan(...any) error }, more ...any) (*meta.RepoInfo, error) {
	var ri meta.RepoInfo
	var created, pushed, tagged, changed int64
	dest := []any{&ri.Name, &created, &ri.ArtifactCount, &pushed, &tagged, &ri.ID, &ri.Description, &ri.PullCount, &changed}
	if err := row.Scan(append(dest, more...)...); err != nil {
		return nil, err
	}
	ri.CreatedAt, ri.UpdatedAt = ms2t(created), ms2t(max(created, pushed, tagged, changed))
	return &ri, nil
}

// inProject is the condition "repository r.name is in the project bound to
// the two ?" (args from projectRange): a range of the primary key, exact
// and served by its index on both databases (names compare byte-wise:
// "C" collation on PostgreSQL, BINARY on SQLite).
const inProject = `r.name >= ? AND r.name < ?`

// projectRange is the arguments of inProject: every name that starts with
// "project/" sorts from "project/" up to, not including, "project0" ('0'
// follows '/').
func projectRange(project string) []any { return []any{project + "/", project + "0"} }

// ProjectRepositories implements meta.Catalog.
func (s *Store) ProjectRepositories(ctx context.Context, project string, q meta.ListQuery) (_ []meta.RepoInfo, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	where, args, err := s.where(repoListing, q, []string{inProject}, projectRange(project))
	if err != nil {
		return nil, 0, err
	}
	order, err := repoListing.orderBy(q, "r.name")
	if err != nil {
		return nil, 0, err
	}
	cond := ` FROM repositories r WHERE ` + where
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*)`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+repoInfoCols+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.RepoInfo{}
	for rows.Next() {
		ri, err := scanRepoInfo(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *ri)
	}
	return out, total, rows.Err()
}

// repoListing is the keys of ProjectRepositories (Harbor's names).
var repoListing = listing{
	"name":          {expr: "r.name"},
	"creation_time": {expr: "r.created_at", kind: timeValue},
	"pull_count":    {expr: "r.pull_count", kind: intValue},
}

// RepositoryCount implements meta.Catalog.
func (s *Store) RepositoryCount(ctx context.Context, project string) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int64
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM repositories r WHERE `+inProject, projectRange(project)...).Scan(&n)
	return n, err
}

// Repository implements meta.Catalog.
func (s *Store) Repository(ctx context.Context, repo string) (_ *meta.RepoInfo, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	ri, err := scanRepoInfo(s.queryRow(ctx, `SELECT `+repoInfoCols+` FROM repositories r WHERE r.name = ?`, repo))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, meta.ErrRepoNotFound
	}
	return ri, err
}

const artifactCols = `m.digest, m.media_type, m.artifact_type, m.created_at, m.size +
	COALESCE((SELECT SUM(b.size) FROM manifest_refs r JOIN blobs b ON b.digest = r.ref
		WHERE r.repo = m.repo AND r.manifest = m.digest AND r.kind = 0), 0),
	m.pull_time, COALESCE((SELECT rr.id FROM repositories rr WHERE rr.name = m.repo), 0)`

func scanArtifact(row interface{ Scan(...any) error }) (*meta.ArtifactInfo, error) {
	var a meta.ArtifactInfo
	var d string
	var pushed, pulled int64
	if err := row.Scan(&d, &a.MediaType, &a.ArtifactType, &pushed, &a.Size, &pulled, &a.RepositoryID); err != nil {
		return nil, err
	}
	a.Digest, a.PushedAt, a.PulledAt, a.Tags = digest.Digest(d), ms2t(pushed), ms2t(pulled), []meta.TagInfo{}
	return &a, nil
}

// Artifacts implements meta.Catalog.
func (s *Store) Artifacts(ctx context.Context, repo string, q meta.ListQuery) (_ []meta.ArtifactInfo, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	where, args, err := s.where(artifactListing, q, []string{"m.repo = ?" + topLevel}, []any{repo})
	if err != nil {
		return nil, 0, err
	}
	order, err := artifactListing.orderBy(q, "m.created_at DESC, m.digest")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	count, countArgs := `SELECT COUNT(*) FROM manifests m WHERE `+where, args
	if len(q.Where) == 0 {
		count, countArgs = `SELECT `+topLevelCount("?"), []any{repo, repo, repo, repo, repo}
	}
	if err := s.queryRow(ctx, count, countArgs...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+artifactCols+` FROM manifests m WHERE `+where+
		` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.ArtifactInfo{}
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, s.attachTags(ctx, repo, out)
}

// artifactListing is the keys of Artifacts (Harbor's names).
var artifactListing = listing{
	"digest":        {expr: "m.digest"},
	"media_type":    {expr: "m.media_type"},
	"artifact_type": {expr: "m.artifact_type"},
	"push_time":     {expr: "m.created_at", kind: timeValue},
	"pull_time":     {expr: "m.pull_time", kind: timeValue},
	"tags":          {match: matchTags},
	"labels":        {match: matchLabels},
}

// matchTags is the condition on an artifact's tags: tags=* (tagged),
// tags=nil (untagged), tags=NAME, tags=~PART, tags={A B} (any of them),
// tags=(A B) (all of them).
func matchTags(c meta.Cond) (string, []any, error) {
	const has = `EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest`
	switch c.Op {
	case meta.Equal:
		switch c.Values[0] {
		case "*":
			return has + `)`, nil, nil
		case "nil":
			return `NOT ` + has + `)`, nil, nil
		}
		return has + ` AND t.name = ?)`, []any{c.Values[0]}, nil
	case meta.Fuzzy:
		return has + ` AND t.name LIKE ? ESCAPE '\')`, []any{"%" + escapeLike(c.Values[0]) + "%"}, nil
	case meta.AnyOf, meta.AllOf:
		if len(c.Values) == 0 {
			return "1 = 0", nil, nil
		}
		var parts []string
		var args []any
		for _, v := range c.Values {
			parts, args = append(parts, has+` AND t.name = ?)`), append(args, v)
		}
		join := " OR "
		if c.Op == meta.AllOf {
			join = " AND "
		}
		return "(" + strings.Join(parts, join) + ")", args, nil
	}
	return "", nil, errOp(c, "tags=*, tags=nil, tags=NAME, tags=~PART, tags={A B} and tags=(A B)")
}

// attachTags fills in the tags of arts with one query.
func (s *Store) attachTags(ctx context.Context, repo string, arts []meta.ArtifactInfo) error {
	if len(arts) == 0 {
		return nil
	}
	byDigest := make(map[digest.Digest]*meta.ArtifactInfo, len(arts))
	args := []any{repo}
	for i := range arts {
		byDigest[arts[i].Digest] = &arts[i]
		args = append(args, string(arts[i].Digest))
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", len(arts)), ", ")
	rows, err := s.query(ctx, `SELECT name, digest, updated_at, pull_time FROM tags WHERE repo = ? AND digest IN (`+in+`) ORDER BY name`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t meta.TagInfo
		var d string
		var at, pulled int64
		if err := rows.Scan(&t.Name, &d, &at, &pulled); err != nil {
			return err
		}
		t.Digest, t.PushedAt, t.PulledAt = digest.Digest(d), ms2t(at), ms2t(pulled)
		if a := byDigest[t.Digest]; a != nil {
			a.Tags = append(a.Tags, t)
		}
	}
	return rows.Err()
}

// Artifact implements meta.Catalog.
func (s *Store) Artifact(ctx context.Context, repo string, d digest.Digest) (_ *meta.ArtifactInfo, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	a, err := scanArtifact(s.queryRow(ctx, `SELECT `+artifactCols+` FROM manifests m WHERE m.repo = ? AND m.digest = ?`, repo, string(d)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, meta.ErrManifestNotFound
	}
	if err != nil {
		return nil, err
	}
	arts := []meta.ArtifactInfo{*a}
	if err := s.attachTags(ctx, repo, arts); err != nil {
		return nil, err
	}
	return &arts[0], nil
}

// CreateTag implements meta.Catalog.
func (s *Store) CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		var one int
		err := tx.queryRow(ctx, tx.forShare(`SELECT 1 FROM manifests WHERE repo = ? AND digest = ?`), repo, string(d)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrManifestNotFound
		}
		if err != nil {
			return err
		}
		t := now()
		res, err := tx.exec(ctx, `INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (repo, name) DO NOTHING`, repo, tag, string(d), t)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return meta.ErrConflict
		}
		return addTagHistory(ctx, tx, repo, tag, string(d), "set", t)
	})
}

// DeleteRepository implements meta.Catalog.
func (s *Store) DeleteRepository(ctx context.Context, repo string) error {
	return s.DeleteRepositoryGuarded(ctx, repo, nil)
}

// DeleteRepositoryGuarded implements meta.ImmutableStore.
func (s *Store) DeleteRepositoryGuarded(ctx context.Context, repo string, guard meta.TagGuard) error {
	return s.inAccountedTx(ctx, repo, func(ctx context.Context, tx tx, u *usage) error {
		res, err := tx.exec(ctx, `DELETE FROM repositories WHERE name = ?`, repo)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return meta.ErrRepoNotFound
		}
		rows, err := tx.query(ctx, `DELETE FROM tags WHERE repo = ? RETURNING name, digest`, repo)
		if err != nil {
			return err
		}
		var removed [][2]string
		for rows.Next() {
			var name, d string
			if err := rows.Scan(&name, &d); err != nil {
				rows.Close()
				return err
			}
			removed = append(removed, [2]string{name, d})
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, r := range removed {
			if err := refuseProtected(repo, digest.Digest(r[1]), []string{r[0]}, guard); err != nil {
				return err
			}
		}
		t := now()
		for _, r := range removed {
			if err := addTagHistory(ctx, tx, repo, r[0], r[1], "delete", t); err != nil {
				return err
			}
		}
		if err := releaseRepository(ctx, tx, u, repo); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM manifest_refs WHERE repo = ?`, `DELETE FROM manifests WHERE repo = ?`,
			`DELETE FROM repository_blobs WHERE repo = ?`} {
			if _, err := tx.exec(ctx, q, repo); err != nil {
				return err
			}
		}
		return nil
	})
}

// notIndexChild relies on oci.RefManifest being kind 1 (fails to compile otherwise).
var _ = [1]int{}[int(oci.RefManifest)-1]
