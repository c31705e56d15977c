package sqlstore

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.RetentionStore = (*Store)(nil)

// CreateRetentionPolicy implements meta.RetentionStore.
func (s *Store) CreateRetentionPolicy(ctx context.Context, p *meta.RetentionPolicy) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		// The projects row is locked first: a concurrent delete of the
		// project waits, and a concurrent create for it conflicts below.
		if err := affected(tx.exec(ctx, `UPDATE projects SET updated_at = ? WHERE id = ?`, t, p.ProjectID)); err != nil {
			return err
		}
		err := tx.queryRow(ctx, `INSERT INTO retention_policies (project_id, policy, created_at, updated_at)
			VALUES (?, ?, ?, ?) RETURNING id`, p.ProjectID, p.Policy, t, t).Scan(&p.ID)
		if isUniqueViolation(err) {
			return meta.ErrConflict
		}
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO project_metadata (project_id, name, value, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value,
			updated_at = excluded.updated_at`, p.ProjectID, meta.RetentionIDKey, strconv.FormatInt(p.ID, 10), t, t); err != nil {
			return err
		}
		p.CreatedAt, p.UpdatedAt = ms2t(t), ms2t(t)
		return nil
	})
}

// RetentionPolicy implements meta.RetentionStore.
func (s *Store) RetentionPolicy(ctx context.Context, id int64) (_ *meta.RetentionPolicy, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	p := &meta.RetentionPolicy{ID: id}
	var created, updated int64
	err = s.queryRow(ctx, `SELECT project_id, policy, created_at, updated_at FROM retention_policies WHERE id = ?`, id).
		Scan(&p.ProjectID, &p.Policy, &created, &updated)
	if err != nil {
		return nil, notFound(err)
	}
	p.CreatedAt, p.UpdatedAt = ms2t(created), ms2t(updated)
	return p, nil
}

// UpdateRetentionPolicy implements meta.RetentionStore.
func (s *Store) UpdateRetentionPolicy(ctx context.Context, p *meta.RetentionPolicy) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		var project, created int64
		err := tx.queryRow(ctx, `UPDATE retention_policies SET policy = ?, updated_at = ? WHERE id = ?
			RETURNING project_id, created_at`, p.Policy, t, p.ID).Scan(&project, &created)
		if err != nil {
			return notFound(err)
		}
		p.ProjectID, p.CreatedAt, p.UpdatedAt = project, ms2t(created), ms2t(t)
		return nil
	})
}

// DeleteRetentionPolicy implements meta.RetentionStore.
func (s *Store) DeleteRetentionPolicy(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		var project int64
		if err := tx.queryRow(ctx, `DELETE FROM retention_policies WHERE id = ? RETURNING project_id`, id).Scan(&project); err != nil {
			return notFound(err)
		}
		_, err := tx.exec(ctx, `DELETE FROM project_metadata WHERE project_id = ? AND name = ? AND value = ?`,
			project, meta.RetentionIDKey, strconv.FormatInt(id, 10))
		return err
	})
}

// RetentionArtifacts implements meta.RetentionStore: four queries over the
// repository (manifests, tags, index references, labels), whatever its
// size, put together here. Accessories are found as ArtifactDetails finds
// them: by subject, and by cosign's tags.
func (s *Store) RetentionArtifacts(ctx context.Context, repo string) (_ []meta.RetentionArtifact, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var out []meta.RetentionArtifact
	index := map[digest.Digest]int{}
	subjects := map[int]digest.Digest{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var a meta.RetentionArtifact
		var d string
		var subject sql.NullString
		var pushed, pulled int64
		if err := rows.Scan(&d, &a.MediaType, &subject, &pushed, &pulled, &a.Size); err != nil {
			return err
		}
		a.Digest, a.PushedAt, a.PulledAt, a.Tags = digest.Digest(d), ms2t(pushed), ms2t(pulled), []meta.TagInfo{}
		index[a.Digest] = len(out)
		if subject.Valid {
			subjects[len(out)] = digest.Digest(subject.String)
		}
		out = append(out, a)
		return nil
	}, `SELECT m.digest, m.media_type, m.subject, m.created_at, m.pull_time, `+manifestSize+`
		FROM manifests m WHERE m.repo = ?`, repo)
	if err != nil || len(out) == 0 {
		return out, err
	}
	for i, subject := range subjects {
		if _, ok := index[subject]; ok {
			out[i].AccessoryOf = subject
		}
	}
	if err := s.eachRow(ctx, func(rows *sql.Rows) error {
		var t meta.TagInfo
		var d string
		var at, pulled int64
		if err := rows.Scan(&t.Name, &d, &at, &pulled); err != nil {
			return err
		}
		t.Digest, t.PushedAt, t.PulledAt = digest.Digest(d), ms2t(at), ms2t(pulled)
		i, ok := index[t.Digest]
		if !ok { // a tag of a manifest pushed since the first query
			return nil
		}
		out[i].Tags = append(out[i].Tags, t)
		if subject, ok := cosignSubjectOf(t.Name); ok && out[i].AccessoryOf == "" && subject != t.Digest {
			if _, present := index[subject]; present {
				out[i].AccessoryOf = subject
			}
		}
		return nil
	}, `SELECT name, digest, updated_at, pull_time FROM tags WHERE repo = ? ORDER BY name`, repo); err != nil {
		return nil, err
	}
	if err := s.eachRow(ctx, func(rows *sql.Rows) error {
		var m, ref string
		if err := rows.Scan(&m, &ref); err != nil {
			return err
		}
		if i, ok := index[digest.Digest(m)]; ok {
			out[i].Children = append(out[i].Children, digest.Digest(ref))
		}
		return nil
	}, `SELECT manifest, ref FROM manifest_refs WHERE repo = ? AND kind = 1 ORDER BY manifest, ref`, repo); err != nil {
		return nil, err
	}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var d, name string
		if err := rows.Scan(&d, &name); err != nil {
			return err
		}
		if i, ok := index[digest.Digest(d)]; ok {
			out[i].Labels = append(out[i].Labels, name)
		}
		return nil
	}, `SELECT al.digest, l.name FROM artifact_labels al JOIN labels l ON l.id = al.label_id WHERE al.repo = ?
		ORDER BY al.digest, l.name`, repo)
	return out, err
}

// cosignSubjectOf is the artifact a cosign tag ("sha256-HEX.sig", ".att",
// ".sbom") is attached to.
func cosignSubjectOf(tag string) (digest.Digest, bool) {
	if len(tag) < 71 || tag[:7] != "sha256-" {
		return "", false
	}
	d := digest.Digest("sha256:" + tag[7:71])
	return d, d.Validate() == nil && slices.Contains(cosignTags(d), tag)
}

// maxFreedBatch bounds the digests of one query of FreedBytes.
const maxFreedBatch = 500

// FreedBytes implements meta.RetentionStore. A manifest references only
// blobs linked into its repository, so the manifests referencing a blob
// are found through the blob's links (indexed by digest) and each linking
// repository's references (indexed by repository and reference: the
// query reads nothing else of them, so that the index covers it; were a
// blob's digest also an index's child, that reference would keep it, the
// safe side).
func (s *Store) FreedBytes(ctx context.Context, repo string, ds []digest.Digest) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	gone := make(map[string]bool, len(ds))
	for _, d := range ds {
		gone[string(d)] = true
	}
	var freed int64
	blobs := map[string]int64{}
	for chunk := range slices.Chunk(slices.Sorted(maps.Keys(gone)), maxFreedBatch) {
		args := append([]any{repo}, anys(chunk)...)
		if err := s.eachRow(ctx, func(rows *sql.Rows) error {
			var size int64
			if err := rows.Scan(&size); err != nil {
				return err
			}
			freed += size
			return nil
		}, `SELECT size FROM manifests WHERE repo = ? AND digest IN `+inList(len(chunk)), args...); err != nil {
			return 0, err
		}
		if err := s.eachRow(ctx, func(rows *sql.Rows) error {
			var d string
			var size int64
			if err := rows.Scan(&d, &size); err != nil {
				return err
			}
			blobs[d] = size
			return nil
		}, `SELECT DISTINCT r.ref, b.size FROM manifest_refs r JOIN blobs b ON b.digest = r.ref
			WHERE r.repo = ? AND r.kind = 0 AND r.manifest IN `+inList(len(chunk)), args...); err != nil {
			return 0, err
		}
	}
	kept := map[string]bool{}
	for chunk := range slices.Chunk(slices.Sorted(maps.Keys(blobs)), maxFreedBatch) {
		if err := s.eachRow(ctx, func(rows *sql.Rows) error {
			var d, r, m string
			if err := rows.Scan(&d, &r, &m); err != nil {
				return err
			}
			if r != repo || !gone[m] {
				kept[d] = true
			}
			return nil
		}, `SELECT rb.digest, r.repo, r.manifest FROM repository_blobs rb
			JOIN manifest_refs r ON r.repo = rb.repo AND r.ref = rb.digest
			WHERE rb.digest IN `+inList(len(chunk)), anys(chunk)...); err != nil {
			return 0, err
		}
	}
	for d, size := range blobs {
		if !kept[d] {
			freed += size
		}
	}
	return freed, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
