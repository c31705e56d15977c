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

// Accessories (see meta.AccessoryInfo) are found by the subject column
// (indexed) and by cosign's tags, "sha256-HEX" plus ".sig", ".att" or
// ".sbom": 75 or 76 characters (a sha512 one would exceed the 128 a tag
// may have).

// cosignTags are the tags cosign gives the signature, attestation and SBOM
// of d, in that order; none for a digest that is not sha256.
func cosignTags(d digest.Digest) []string {
	if d.Algorithm() != digest.SHA256 {
		return nil
	}
	base := "sha256-" + d.Encoded()
	return []string{base + ".sig", base + ".att", base + ".sbom"}
}

// cosignTagOf is the condition "tag t is a cosign tag of an artifact s in
// t's repository" (s joined by the caller on s.digest = cosignSubject).
const (
	cosignTagShape = `substr(t.name, 1, 7) = 'sha256-' AND (LENGTH(t.name) = 75 AND substr(t.name, 72) IN ('.sig', '.att')
		OR LENGTH(t.name) = 76 AND substr(t.name, 72) = '.sbom')`
	cosignSubject = `'sha256:' || substr(t.name, 8, 64)`
)

// notAccessory keeps manifests m that are not an accessory of an artifact
// in their repository.
const notAccessory = ` AND NOT (m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM manifests s WHERE s.repo = m.repo AND s.digest = m.subject))
	AND NOT EXISTS (SELECT 1 FROM tags t JOIN manifests s ON s.repo = t.repo AND s.digest = ` + cosignSubject + `
		WHERE t.repo = m.repo AND t.digest = m.digest AND ` + cosignTagShape + `)`

// topLevel is the condition on manifests m listed as artifacts, Harbor's
// (src/pkg/artifact/dao): tagged or not the child of an index, and not an
// accessory. ("1 = 1" + notIndexChild is notIndexChild without its AND.)
const topLevel = ` AND (1 = 1` + notIndexChild + ` OR EXISTS (SELECT 1 FROM tags tg WHERE tg.repo = m.repo AND tg.digest = m.digest))` +
	notAccessory

// manifestSize is a manifest's size plus that of the blobs it references.
const manifestSize = `m.size + COALESCE((SELECT SUM(b.size) FROM manifest_refs r JOIN blobs b ON b.digest = r.ref
		WHERE r.repo = m.repo AND r.manifest = m.digest AND r.kind = 0), 0)`

// maxDetailBatch bounds the digests of one ManifestDetails query (the
// page of an artifact list, or the children of its indexes).
const maxDetailBatch = 500

// ManifestDetails implements meta.ArtifactDetails.
func (s *Store) ManifestDetails(ctx context.Context, repo string, ds []digest.Digest, withBody bool) (_ []meta.ManifestDetail, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := []meta.ManifestDetail{}
	for len(ds) > 0 {
		batch := ds[:min(len(ds), maxDetailBatch)]
		ds = ds[len(batch):]
		cols := `m.digest, m.media_type, ` + manifestSize
		if withBody {
			cols += `, m.body`
		}
		args := []any{repo}
		for _, d := range batch {
			args = append(args, string(d))
		}
		rows, err := s.query(ctx, `SELECT `+cols+` FROM manifests m WHERE m.repo = ? AND m.digest IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(batch)), ", ")+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var md meta.ManifestDetail
			var d string
			dest := []any{&d, &md.MediaType, &md.Size}
			if withBody {
				dest = append(dest, &md.Body)
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			md.Digest = digest.Digest(d)
			out = append(out, md)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// accessoryType is an accessory's Harbor type, from how it was found
// (a.via: 0 subject, 1 ".sig" tag, 2 ".att" or ".sbom" tag) and its
// artifact type.
const accessoryType = `CASE WHEN a.via = 1 THEN 'signature.cosign'
		WHEN a.via = 2 THEN 'subject.accessory'
		WHEN m.artifact_type = 'application/vnd.cncf.notary.signature' THEN 'signature.notation'
		WHEN m.artifact_type IN ('application/vnd.dev.cosign.artifact.sig.v1+json', 'application/vnd.dev.sigstore.bundle.v0.3+json')
			THEN 'signature.cosign'
		WHEN m.artifact_type = 'application/vnd.goharbor.harbor.sbom.v1' THEN 'sbom.harbor'
		ELSE 'subject.accessory' END`

// accessoryListing is the keys of Accessories (Harbor's names).
var accessoryListing = listing{
	"type":          {expr: accessoryType},
	"digest":        {expr: "m.digest"},
	"creation_time": {expr: "m.created_at", kind: timeValue},
	"size":          {expr: manifestSize, kind: intValue},
}

// accessoriesFrom is the FROM clause of the accessories of one artifact,
// with its arguments: each manifest found once, by the first way (a.via).
func accessoriesFrom(repo string, d digest.Digest) (string, []any) {
	tags := cosignTags(d)
	if tags == nil {
		tags = []string{"", "", ""} // matches no tag
	}
	// The few candidates drive the join (CROSS JOIN fixes that order in
	// SQLite, whose planner otherwise scans every manifest of the
	// repository per artifact: seconds for a page of a large one).
	return ` FROM (SELECT x.digest, MIN(x.via) AS via FROM (
			SELECT digest, 0 AS via FROM manifests WHERE repo = ? AND subject = ?
			UNION ALL SELECT digest, 1 FROM tags WHERE repo = ? AND name = ?
			UNION ALL SELECT digest, 2 FROM tags WHERE repo = ? AND name IN (?, ?)
		) x GROUP BY x.digest) a CROSS JOIN manifests m
		WHERE m.repo = ? AND m.digest = a.digest AND m.digest <> ?`,
		[]any{repo, string(d), repo, tags[0], repo, tags[1], tags[2], repo, string(d)}
}

// Accessories implements meta.ArtifactDetails.
func (s *Store) Accessories(ctx context.Context, repo string, d digest.Digest, q meta.ListQuery) (_ []meta.AccessoryInfo, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	from, args := accessoriesFrom(repo, d)
	where, wargs, err := s.where(accessoryListing, q, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	order, err := accessoryListing.orderBy(q, "m.created_at DESC, m.digest")
	if err != nil {
		return nil, 0, err
	}
	cond := from + ` AND ` + where
	args = append(args, wargs...)
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*)`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT m.digest, m.media_type, m.artifact_type, m.created_at, `+manifestSize+`, `+accessoryType+
		cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.AccessoryInfo{}
	for rows.Next() {
		a := meta.AccessoryInfo{Subject: d}
		var dg string
		var created int64
		if err := rows.Scan(&dg, &a.MediaType, &a.ArtifactType, &created, &a.Size, &a.Type); err != nil {
			return nil, 0, err
		}
		a.Digest, a.CreatedAt = digest.Digest(dg), ms2t(created)
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// AccessoryOf implements meta.ArtifactDetails.
func (s *Store) AccessoryOf(ctx context.Context, repo string, d digest.Digest) (_ digest.Digest, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var subject string
	err = s.queryRow(ctx, `SELECT s.digest FROM manifests m JOIN manifests s ON s.repo = m.repo AND s.digest = m.subject
		WHERE m.repo = ? AND m.digest = ?
		UNION ALL SELECT s.digest FROM tags t JOIN manifests s ON s.repo = t.repo AND s.digest = `+cosignSubject+`
		WHERE t.repo = ? AND t.digest = ? AND `+cosignTagShape+`
		ORDER BY 1 LIMIT 1`, repo, string(d), repo, string(d)).Scan(&subject)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return digest.Digest(subject), err
}

// ParentIndexes implements meta.ArtifactDetails.
func (s *Store) ParentIndexes(ctx context.Context, repo string, d digest.Digest, limit int) (_ []digest.Digest, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT manifest FROM manifest_refs WHERE repo = ? AND ref = ? AND kind = ?
		ORDER BY manifest LIMIT ?`, repo, string(d), int(oci.RefManifest), limit)
	if err != nil {
		return nil, err
	}
	names, err := scanStrings(rows, limit)
	if err != nil {
		return nil, err
	}
	out := make([]digest.Digest, len(names))
	for i, n := range names {
		out[i] = digest.Digest(n)
	}
	return out, nil
}
