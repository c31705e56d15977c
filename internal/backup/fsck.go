package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/oci"
)

// FsckOptions tune Fsck.
type FsckOptions struct {
	// Quick checks each blob's existence and size, not its content.
	Quick    bool
	Progress *Progress
}

// Problem kinds of a FsckReport.
const (
	ProblemBlobMissing    = "blob_missing"     // a blob row without bytes
	ProblemBlobSize       = "blob_size"        // bytes of another size than the row says
	ProblemBlobCorrupt    = "blob_corrupt"     // bytes that do not match their digest
	ProblemRefNoBlob      = "ref_blob_missing" // a manifest references a blob with no row
	ProblemRefUnlinked    = "ref_blob_unlinked"
	ProblemChildMissing   = "child_manifest_missing"
	ProblemManifestDigest = "manifest_digest" // a stored body that does not match its digest
	ProblemTagDangling    = "tag_dangling"
)

// FsckProblem is one inconsistency.
type FsckProblem struct {
	Kind       string `json:"kind"`
	Repository string `json:"repository,omitempty"`
	Manifest   string `json:"manifest,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// FsckReport is what Fsck found. Orphans (bytes no row references) waste
// space but break nothing, so they do not make a deployment inconsistent;
// they are listed only for a local store, whose files can be walked.
type FsckReport struct {
	Consistent     bool          `json:"consistent"`
	Counts         Counts        `json:"counts"`
	ContentChecked bool          `json:"content_checked"`
	Problems       []FsckProblem `json:"problems"`
	OrphansChecked bool          `json:"orphans_checked"`
	Orphans        []Blob        `json:"orphans"`
	OrphanBytes    int64         `json:"orphan_bytes"`
	Seconds        float64       `json:"seconds"`
}

// Fsck checks src's consistency: every manifest's blobs and child
// manifests exist, every blob row has its bytes with the right size and
// (unless opt.Quick) digest, every tag points at a manifest, every stored
// manifest body matches its digest; it lists orphaned bytes. It reads
// without locks and may run beside the server: a blob found missing whose
// row a collection deleted meanwhile is not reported.
func Fsck(ctx context.Context, src Source, opt FsckOptions) (*FsckReport, error) {
	start := time.Now()
	rep := &FsckReport{ContentChecked: !opt.Quick, Problems: []FsckProblem{}, Orphans: []Blob{}}
	// Files are listed before the rows are read, so a blob committed in
	// between is not an orphan.
	var files []Blob
	if !src.Shared {
		var err error
		dir := src.DataDir
		if src.BlobDir != "" {
			dir = src.BlobDir
		}
		if files, err = walkBlobs(dir); err != nil {
			return nil, err
		}
		rep.OrphansChecked = true
	}
	db, err := openLive(ctx, src)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	pg := src.DatabaseURL != ""
	blobs, pending, err := readState(ctx, db, pg, rep)
	if err != nil {
		return nil, err
	}
	if rep.Counts, err = countRows(ctx, db, blobs); err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		suspect []FsckProblem
	)
	phase := "blobs verified"
	if opt.Quick {
		phase = "blobs checked"
	}
	_, err = forEach(ctx, blobs, opt.Progress, phase, func(ctx context.Context, b Blob) (outcome, error) {
		p, err := checkBlob(ctx, src.Blobs, b, opt.Quick)
		if p != nil {
			mu.Lock()
			suspect = append(suspect, *p)
			mu.Unlock()
		}
		return skipped, err
	})
	if err != nil {
		return nil, err
	}
	// A collection may have deleted a blob since the rows were read: only
	// blobs whose rows still exist are reported.
	if len(suspect) > 0 {
		ds := make([]digest.Digest, len(suspect))
		for i, p := range suspect {
			ds[i] = digest.Digest(p.Digest)
		}
		still, err := blobRowsExist(ctx, db, pg, ds)
		if err != nil {
			return nil, err
		}
		for _, p := range suspect {
			if still[digest.Digest(p.Digest)] {
				rep.Problems = append(rep.Problems, p)
			}
		}
	}
	rows := make(map[digest.Digest]bool, len(blobs))
	for _, b := range blobs {
		rows[b.Digest] = true
	}
	for _, f := range files {
		if !rows[f.Digest] && !pending[f.Digest] {
			rep.Orphans = append(rep.Orphans, f)
			rep.OrphanBytes += f.Size
		}
	}
	rep.Consistent = len(rep.Problems) == 0
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// checkBlob returns the problem with one blob's bytes, if any.
func checkBlob(ctx context.Context, store blob.Store, b Blob, quick bool) (*FsckProblem, error) {
	prob := func(kind, detail string) (*FsckProblem, error) {
		return &FsckProblem{Kind: kind, Digest: b.Digest.String(), Detail: detail}, nil
	}
	if quick {
		size, err := store.Stat(ctx, b.Digest)
		switch {
		case errors.Is(err, blob.ErrNotFound):
			return prob(ProblemBlobMissing, "")
		case err != nil:
			return nil, fmt.Errorf("blob %s: %w", b.Digest, err)
		case size != b.Size:
			return prob(ProblemBlobSize, fmt.Sprintf("%d bytes, the database says %d", size, b.Size))
		}
		return nil, nil
	}
	rc, err := store.Open(ctx, b.Digest)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return prob(ProblemBlobMissing, "")
	case err != nil:
		return nil, fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	err = copyVerified(io.Discard, rc, b)
	if errors.Is(err, ErrCorrupt) {
		detail := strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+" "+b.Digest.String()+": ")
		if strings.Contains(detail, "bytes, want") {
			return prob(ProblemBlobSize, detail)
		}
		return prob(ProblemBlobCorrupt, detail)
	}
	return nil, err
}

// readState reads, in one read transaction, the blob rows, the digests
// queued for deletion (their bytes are not orphans), and the problems
// the database shows by itself.
func readState(ctx context.Context, db *sql.DB, pg bool, rep *FsckReport) ([]Blob, map[digest.Digest]bool, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	blobs, err := listBlobs(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	pending := map[digest.Digest]bool{}
	if err := scanRows(ctx, tx, `SELECT digest FROM blob_deletions WHERE deleted_at = 0`, func(s []string) {
		pending[digest.Digest(s[0])] = true
	}); err != nil {
		return nil, nil, err
	}
	checks := []struct {
		kind, query string
		add         func(s []string) FsckProblem
	}{
		{ProblemRefNoBlob, fmt.Sprintf(`SELECT r.repo, r.manifest, r.ref FROM manifest_refs r
			LEFT JOIN blobs b ON b.digest = r.ref WHERE r.kind = %d AND b.digest IS NULL`, oci.RefBlob),
			func(s []string) FsckProblem { return FsckProblem{Repository: s[0], Manifest: s[1], Digest: s[2]} }},
		{ProblemRefUnlinked, fmt.Sprintf(`SELECT r.repo, r.manifest, r.ref FROM manifest_refs r
			LEFT JOIN repository_blobs l ON l.repo = r.repo AND l.digest = r.ref WHERE r.kind = %d AND l.digest IS NULL`, oci.RefBlob),
			func(s []string) FsckProblem {
				return FsckProblem{Repository: s[0], Manifest: s[1], Digest: s[2], Detail: "the repository has no link to the blob"}
			}},
		{ProblemChildMissing, fmt.Sprintf(`SELECT r.repo, r.manifest, r.ref FROM manifest_refs r
			LEFT JOIN manifests m ON m.repo = r.repo AND m.digest = r.ref WHERE r.kind = %d AND m.digest IS NULL`, oci.RefManifest),
			func(s []string) FsckProblem { return FsckProblem{Repository: s[0], Manifest: s[1], Digest: s[2]} }},
		{ProblemTagDangling, `SELECT t.repo, t.name, t.digest FROM tags t
			LEFT JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest WHERE m.digest IS NULL`,
			func(s []string) FsckProblem { return FsckProblem{Repository: s[0], Tag: s[1], Digest: s[2]} }},
	}
	for _, c := range checks {
		if err := scanRows(ctx, tx, c.query, func(s []string) {
			p := c.add(s)
			p.Kind = c.kind
			rep.Problems = append(rep.Problems, p)
		}); err != nil {
			return nil, nil, err
		}
	}
	if err := checkBodies(ctx, tx, rep); err != nil {
		return nil, nil, err
	}
	return blobs, pending, nil
}

// checkBodies recomputes every stored manifest's digest.
func checkBodies(ctx context.Context, tx *sql.Tx, rep *FsckReport) error {
	rows, err := tx.QueryContext(ctx, `SELECT repo, digest, body FROM manifests`)
	if err != nil {
		return fmt.Errorf("reading manifests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var repo, d string
		var body []byte
		if err := rows.Scan(&repo, &d, &body); err != nil {
			return err
		}
		dg, err := oci.ParseDigest(d)
		if err != nil || dg.Algorithm().FromBytes(body) != dg {
			rep.Problems = append(rep.Problems, FsckProblem{Kind: ProblemManifestDigest, Repository: repo, Manifest: d,
				Detail: "the stored body does not match the digest"})
		}
	}
	return rows.Err()
}

// scanRows runs a query of string columns and calls fn on each row.
func scanRows(ctx context.Context, q queryer, query string, fn func([]string)) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("fsck query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		s := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range s {
			ptrs[i] = &s[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		fn(s)
	}
	return rows.Err()
}

// walkBlobs lists the committed blobs of the fs store in dir, by their
// paths blobs/<alg>/<xx>/<hex>.
func walkBlobs(dir string) ([]Blob, error) {
	root := filepath.Join(dir, blobsDir)
	var out []Blob
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) { // no blob yet, or deleted under the walk
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 {
			return nil
		}
		dg, err := oci.ParseDigest(parts[0] + ":" + parts[2])
		if err != nil {
			return nil // not a blob's name (a stray file)
		}
		fi, err := d.Info()
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, Blob{Digest: dg, Size: fi.Size()})
		return nil
	})
	return out, err
}
