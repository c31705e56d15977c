package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// CopyArtifact implements meta.ArtifactDetails. Everything happens in one
// transaction, so a failure leaves no link, manifest or tag behind. The
// rows read in from are locked until commit (PostgreSQL), so a concurrent
// delete there waits instead of leaving the copy referencing content that
// is gone; the blob rows are locked as a mount locks them, which garbage
// collection must wait for. Bodies are copied by the database, never read
// into memory. What to gains is charged to its project as a push's would
// be (*meta.QuotaExceededError past its limit: nothing is copied).
func (s *Store) CopyArtifact(ctx context.Context, from, to string, root digest.Digest) (meta.CopyResult, error) {
	return s.CopyArtifactGuarded(ctx, from, to, root, nil)
}

// CopyArtifactGuarded implements meta.ImmutableStore: a tag of the
// destination that guard protects is set by setProtectedTag
// (immutable.go), which refuses to move it.
func (s *Store) CopyArtifactGuarded(ctx context.Context, from, to string, root digest.Digest, guard meta.TagGuard) (meta.CopyResult, error) {
	var res meta.CopyResult
	err := s.inAccountedTx(ctx, to, func(ctx context.Context, tx tx, u *usage) error {
		res = meta.CopyResult{}
		u.digest = root
		order, err := copyClosure(ctx, tx, from, root)
		if err != nil {
			return err
		}
		if err := ensureRepo(ctx, tx, to); err != nil {
			return err
		}
		t := now()
		copied := make(map[digest.Digest]bool, len(order))
		for _, d := range order {
			ok, err := copyManifest(ctx, tx, u, from, to, d, t)
			if err != nil {
				return err
			}
			if !ok && d == root {
				return meta.ErrManifestNotFound
			}
			copied[d] = ok
		}
		for _, d := range order {
			if !copied[d] {
				continue // deleted from the source meanwhile: no tag may point at it
			}
			names, err := tagsOf(ctx, tx, from, d)
			if err != nil {
				return err
			}
			for _, name := range names {
				set := setTag
				if guard != nil && guard(name) {
					set = setProtectedTag
				}
				if err := set(ctx, tx, to, name, d, t); err != nil {
					return err
				}
			}
			if d == root {
				res.Tags = names
			}
		}
		res.Manifests = len(order)
		return nil
	})
	return res, err
}

// copyClosure returns root and every manifest it brings along in repo:
// index children and accessories, recursively, each once, ordered so that
// an index comes after its children (the order they can be stored in).
func copyClosure(ctx context.Context, tx tx, repo string, root digest.Digest) ([]digest.Digest, error) {
	var one int
	err := tx.queryRow(ctx, tx.forShare(`SELECT 1 FROM manifests WHERE repo = ? AND digest = ?`), repo, string(root)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, meta.ErrManifestNotFound
	}
	if err != nil {
		return nil, err
	}
	// children[d] are d's index children; found holds every manifest seen.
	children := map[digest.Digest][]digest.Digest{}
	found := map[digest.Digest]bool{root: true}
	queue := []digest.Digest{root}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		kids, err := queryDigests(ctx, tx, `SELECT ref FROM manifest_refs WHERE repo = ? AND manifest = ? AND kind = ? ORDER BY ref`,
			repo, string(d), int(oci.RefManifest))
		if err != nil {
			return nil, err
		}
		children[d] = kids
		q := `SELECT digest FROM manifests WHERE repo = ? AND subject = ?`
		args := []any{repo, string(d)}
		if tags := cosignTags(d); tags != nil {
			q += ` UNION SELECT digest FROM tags WHERE repo = ? AND name IN (?, ?, ?)`
			args = append(args, repo, tags[0], tags[1], tags[2])
		}
		accs, err := queryDigests(ctx, tx, q+` ORDER BY 1`, args...)
		if err != nil {
			return nil, err
		}
		for _, c := range slices.Concat(kids, accs) {
			if !found[c] {
				if len(found) == meta.MaxCopyManifests {
					return nil, meta.ErrCopyTooLarge
				}
				found[c] = true
				queue = append(queue, c)
			}
		}
	}
	// Children before parents: a depth-first post-order over children.
	var order []digest.Digest
	done := map[digest.Digest]bool{}
	var visit func(d digest.Digest)
	visit = func(d digest.Digest) {
		if done[d] {
			return
		}
		done[d] = true
		for _, c := range children[d] {
			visit(c)
		}
		order = append(order, d)
	}
	for _, d := range slices.Sorted(func(yield func(digest.Digest) bool) {
		for d := range found {
			if !yield(d) {
				return
			}
		}
	}) {
		visit(d)
	}
	return order, nil
}

// copyManifest links d's blobs into to and stores d there, as PutManifest
// would: every reference must then exist in to. It reports whether d is in
// to afterwards: not if d left from after copyClosure found it (only
// possible on PostgreSQL, where the closure's rows other than the root's
// are not locked; a child's absence then fails its index's reference
// check).
func copyManifest(ctx context.Context, tx tx, u *usage, from, to string, d digest.Digest, t int64) (bool, error) {
	// The source links of d's blobs, locked with their blob rows.
	rows, err := tx.query(ctx, tx.forShare(`SELECT rb.digest, b.size FROM manifest_refs r
		JOIN repository_blobs rb ON rb.repo = r.repo AND rb.digest = r.ref
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.repo = ? AND r.manifest = ? AND r.kind = 0`), from, string(d))
	if err != nil {
		return false, err
	}
	type sized struct {
		d    digest.Digest
		size int64
	}
	var linked []sized
	for rows.Next() {
		var b sized
		if err := rows.Scan(&b.d, &b.size); err != nil {
			rows.Close()
			return false, err
		}
		linked = append(linked, b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return false, err
	}
	for _, b := range linked {
		if err := linkBlob(ctx, tx, u, to, b.d, b.size); err != nil {
			return false, err
		}
	}
	// Already in to: nothing more to store, and its references are not
	// checked again (to may have unlinked one of its blobs since, which a
	// copy neither needs nor repairs).
	var present int
	err = tx.queryRow(ctx, `SELECT 1 FROM manifests WHERE repo = ? AND digest = ?`, to, string(d)).Scan(&present)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	// What d references and to lacks: a blob no longer linked in from, or
	// a child not copied (it cannot be: children come first).
	var missing string
	var kind int
	err = tx.queryRow(ctx, `SELECT r.ref, r.kind FROM manifest_refs r WHERE r.repo = ? AND r.manifest = ? AND NOT (
			r.kind = 0 AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repo = ? AND rb.digest = r.ref)
			OR r.kind = 1 AND EXISTS (SELECT 1 FROM manifests c WHERE c.repo = ? AND c.digest = r.ref))
		ORDER BY r.ref LIMIT 1`, from, string(d), to, to).Scan(&missing, &kind)
	if err == nil {
		return false, &meta.MissingRefError{Ref: oci.Ref{Digest: digest.Digest(missing), Kind: oci.RefKind(kind)}, ActualSize: -1}
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	res, err := tx.exec(ctx, `INSERT INTO manifests
		(repo, digest, media_type, artifact_type, subject, annotations, size, body, created_at)
		SELECT CAST(? AS TEXT), digest, media_type, artifact_type, subject, annotations, size, body, CAST(? AS BIGINT)
		FROM manifests WHERE repo = ? AND digest = ?
		ON CONFLICT (repo, digest) DO UPDATE SET created_at = manifests.created_at WHERE false`, to, t, from, string(d))
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 0 { // already in to, with its references, or gone from from
		var one int
		err := tx.queryRow(ctx, `SELECT 1 FROM manifests WHERE repo = ? AND digest = ?`, to, string(d)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}
	var size int64
	if err := tx.queryRow(ctx, `SELECT size FROM manifests WHERE repo = ? AND digest = ?`, to, string(d)).Scan(&size); err != nil {
		return false, err
	}
	if err := u.hold(ctx, tx, string(d), size); err != nil {
		return false, err
	}
	// A blob d references that was no longer linked in from but is in to
	// (so it is not missing), released there: d references it now.
	released, err := queryDigests(ctx, tx, `SELECT rb.digest FROM repository_blobs rb WHERE rb.repo = ? AND rb.charged = 0
		AND rb.digest IN (SELECT ref FROM manifest_refs WHERE repo = ? AND manifest = ? AND kind = 0) ORDER BY rb.digest`,
		to, from, string(d))
	if err != nil {
		return false, err
	}
	for _, b := range released {
		var bsize int64
		if err := tx.queryRow(ctx, `SELECT size FROM blobs WHERE digest = ?`, string(b)).Scan(&bsize); err != nil {
			return false, err
		}
		if err := recharge(ctx, tx, u, to, b, bsize); err != nil {
			return false, err
		}
	}
	_, err = tx.exec(ctx, `INSERT INTO manifest_refs (repo, manifest, ref, kind)
		SELECT CAST(? AS TEXT), manifest, ref, kind FROM manifest_refs WHERE repo = ? AND manifest = ?
		ON CONFLICT (repo, manifest, ref) DO NOTHING`, to, from, string(d))
	return err == nil, err
}

// tagsOf lists the tags of d in repo, by name.
func tagsOf(ctx context.Context, tx tx, repo string, d digest.Digest) ([]string, error) {
	rows, err := tx.query(ctx, `SELECT name FROM tags WHERE repo = ? AND digest = ? ORDER BY name`, repo, string(d))
	if err != nil {
		return nil, err
	}
	return scanStrings(rows, 16)
}

// queryDigests runs a query of one digest column in tx.
func queryDigests(ctx context.Context, tx tx, q string, args ...any) ([]digest.Digest, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	names, err := scanStrings(rows, 16)
	if err != nil {
		return nil, err
	}
	out := make([]digest.Digest, len(names))
	for i, n := range names {
		out[i] = digest.Digest(n)
	}
	return out, nil
}
