package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
)

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// From is the snapshot directory.
	From string
	// DataDir is the new data directory: it must not exist or be empty.
	// It receives meta.db (SQLite snapshots) and the blobs copied in the
	// snapshot.
	DataDir string
	// DatabaseURL is the empty PostgreSQL database a postgres snapshot is
	// restored into.
	DatabaseURL string
	// InPlace is the store holding the blobs of a snapshot that left them
	// in place (the deployment's S3 bucket); they are verified there.
	InPlace blob.Store
	PGBin   string
	// Progress, if not nil, shows the verification.
	Progress *Progress
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	Manifest *Manifest
	Blobs    int
	Bytes    int64
	Duration time.Duration
}

// BlobProblem is a blob a snapshot promises but does not hold intact.
type BlobProblem struct {
	Digest digest.Digest `json:"digest"`
	Reason string        `json:"reason"`
}

// RefusedError: the snapshot's blobs are missing or corrupt; nothing was
// restored.
type RefusedError struct {
	Problems []BlobProblem
}

func (e *RefusedError) Error() string {
	var s []string
	for i, p := range e.Problems {
		if i == maxListed {
			s = append(s, fmt.Sprintf("and %d more", len(e.Problems)-maxListed))
			break
		}
		s = append(s, p.Digest.String()+": "+p.Reason)
	}
	return fmt.Sprintf("snapshot refused: %d blobs missing or corrupt (%s); nothing was restored", len(e.Problems), strings.Join(s, "; "))
}

// Restore verifies every blob of the snapshot at opt.From (streaming each
// through its digest) and restores it: into a temporary directory beside
// opt.DataDir renamed into place at the end, and, for PostgreSQL, with
// pg_restore in one transaction. A snapshot with a missing or corrupt
// blob is refused before anything is written to the database.
func Restore(ctx context.Context, opt RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	m, err := ReadManifest(opt.From)
	if err != nil {
		return nil, err
	}
	if err := checkEmptyDir(opt.DataDir); err != nil {
		return nil, err
	}
	switch {
	case m.Database == "postgres" && opt.DatabaseURL == "":
		return nil, errors.New("the snapshot is of a PostgreSQL database: give --database-url of an empty database to restore it into")
	case m.Database == "sqlite" && opt.DatabaseURL != "":
		return nil, errors.New("the snapshot is of a SQLite database; it restores into --data-dir, not --database-url")
	case m.BlobsLocation == BlobsInSnapshot && opt.InPlace != nil:
		return nil, errors.New("the snapshot holds its blobs: they are restored into --data-dir, so restore with --storage fs")
	case m.BlobsLocation == BlobsInPlace && opt.InPlace == nil:
		return nil, errors.New("the snapshot left its blobs in the S3 bucket: give the --storage s3 and --s3-* flags of that bucket so they can be verified")
	}
	dbFile := filepath.Join(opt.From, m.DatabaseFile)
	if sum, err := fileDigest(dbFile); err != nil {
		return nil, fmt.Errorf("snapshot database: %w", err)
	} else if sum.String() != m.DatabaseSHA256 {
		return nil, fmt.Errorf("snapshot refused: %s is corrupt (sha256 %s, the manifest says %s)", m.DatabaseFile, sum, m.DatabaseSHA256)
	}
	var pgConn *pgTarget
	if m.Database == "postgres" {
		if pgConn, err = openPGTarget(ctx, opt.DatabaseURL, opt.PGBin); err != nil {
			return nil, err
		}
		defer pgConn.close()
	}

	tmp := filepath.Clean(opt.DataDir) + ".restoring"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	res := &RestoreResult{Manifest: m, Blobs: len(m.Blobs), Bytes: m.Counts.BlobBytes}
	if err := restoreBlobs(ctx, m, opt, tmp); err != nil {
		return nil, err
	}
	if err := restoreFiles(opt.From, tmp, m.Files); err != nil {
		return nil, err
	}
	if m.Database == "sqlite" {
		if err := restoreSQLite(ctx, m, dbFile, tmp); err != nil {
			return nil, err
		}
	} else if err := pgConn.restore(ctx, m, dbFile); err != nil {
		return nil, err
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	// rename(2) replaces an empty directory.
	if err := os.Rename(tmp, opt.DataDir); err != nil {
		return nil, err
	}
	done = true
	if err := syncDir(filepath.Dir(filepath.Clean(opt.DataDir))); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// checkEmptyDir refuses a data directory that holds anything.
func checkEmptyDir(dir string) error {
	if dir == "" {
		return errors.New("--data-dir is required")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("data directory %s is not empty: restore only into a new or empty directory", dir)
	}
	return nil
}

// restoreBlobs verifies every blob, copying those held in the snapshot to
// tmp/blobs/; all problems are gathered before refusing.
func restoreBlobs(ctx context.Context, m *Manifest, opt RestoreOptions, tmp string) error {
	open := func(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
		if opt.InPlace == nil {
			return nil, errors.New("no store for blobs left in place")
		}
		return opt.InPlace.Open(ctx, d)
	}
	phase := "blobs verified in place"
	if m.BlobsLocation == BlobsInSnapshot {
		open, phase = func(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
			p, err := blobPath(opt.From, d)
			if err != nil {
				return nil, err
			}
			f, err := os.Open(p)
			if errors.Is(err, os.ErrNotExist) {
				return nil, blob.ErrNotFound
			}
			return f, err
		}, "blobs verified and copied"
	}
	var (
		problems []BlobProblem
		mu       sync.Mutex
	)
	_, err := forEach(ctx, m.Blobs, opt.Progress, phase, func(ctx context.Context, b Blob) (outcome, error) {
		err := restoreBlob(ctx, open, b, m.BlobsLocation == BlobsInSnapshot, tmp)
		if err == nil {
			return copied, nil
		}
		reason := ""
		switch {
		case errors.Is(err, blob.ErrNotFound):
			reason = "missing"
		case errors.Is(err, ErrCorrupt):
			reason = strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+" "+b.Digest.String()+": ")
		default:
			return 0, err
		}
		mu.Lock()
		problems = append(problems, BlobProblem{Digest: b.Digest, Reason: reason})
		mu.Unlock()
		return copied, nil
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b BlobProblem) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
		return &RefusedError{Problems: problems}
	}
	return nil
}

func restoreBlob(ctx context.Context, open func(context.Context, digest.Digest) (io.ReadCloser, error), b Blob, keep bool, tmp string) error {
	rc, err := open(ctx, b.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	if !keep {
		return copyVerified(io.Discard, rc, b)
	}
	p, err := blobPath(tmp, b.Digest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	if err := writeBlob(p, rc, b); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// restoreSQLite copies the database file into tmp and checks that every
// blob it references is one the manifest promised (and so was verified).
func restoreSQLite(ctx context.Context, m *Manifest, from, tmp string) error {
	to := filepath.Join(tmp, sqliteFile)
	r, err := os.Open(from)
	if err != nil {
		return err
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil {
		return err
	}
	if err := writeBlob(to, r, Blob{Digest: digest.Digest(m.DatabaseSHA256), Size: fi.Size()}); err != nil {
		return fmt.Errorf("snapshot database: %w", err)
	}
	if err := os.Chmod(to, 0o600); err != nil {
		return err
	}
	db, err := openSQLite(ctx, to, true)
	if err != nil {
		return err
	}
	defer db.Close()
	blobs, err := listBlobs(ctx, db)
	if err != nil {
		return err
	}
	return checkListed(m, blobs)
}

// checkListed refuses a database that references a blob the manifest
// does not list: it was not verified, and may not exist.
func checkListed(m *Manifest, blobs []Blob) error {
	listed := make(map[digest.Digest]int64, len(m.Blobs))
	for _, b := range m.Blobs {
		listed[b.Digest] = b.Size
	}
	var extra []digest.Digest
	for _, b := range blobs {
		if size, ok := listed[b.Digest]; !ok || size != b.Size {
			extra = append(extra, b.Digest)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("snapshot refused: its database references %d blobs %s does not list (%s)", len(extra), ManifestFile, listDigests(extra))
	}
	return nil
}
