package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
)

// Source is a deployment: its database and its blob store.
type Source struct {
	// DataDir holds meta.db when DatabaseURL is empty (SQLite).
	DataDir string
	// DatabaseURL is the PostgreSQL database, if any.
	DatabaseURL string
	// Blobs is the deployment's blob store; Shared says it is an object
	// store (S3) rather than a directory of this machine.
	Blobs  blob.Store
	Shared bool
	// BlobDir is the fs store's directory when it is not DataDir
	// (--blob-dir).
	BlobDir string
	// PGBin is the directory of pg_dump and pg_restore ("": PATH, then
	// /usr/lib/postgresql/15/bin).
	PGBin string
}

// BackupOptions tune Backup.
type BackupOptions struct {
	// To is the snapshot directory; an earlier snapshot there makes the
	// backup incremental.
	To string
	// CopyBlobs copies the blobs of a shared store into the snapshot;
	// without it they are left in place and only listed.
	CopyBlobs bool
	// NoLink copies local blobs even where a hard link would do.
	NoLink bool
	// Attempts bounds the database copies taken when garbage collection
	// deletes blobs under the backup (default 5).
	Attempts int
	// Version is written in the manifest as berth_version.
	Version  string
	Progress *Progress
}

// BackupResult says what a backup did.
type BackupResult struct {
	Manifest *Manifest
	// Blobs linked, copied, already in the snapshot, and removed from it
	// (no longer referenced); bytes copied or linked.
	Linked, Copied, Skipped, Pruned int
	Bytes                           int64
	Attempts                        int
	Duration                        time.Duration
}

// maxListed is how many digests an error names.
const maxListed = 5

// Backup takes a consistent snapshot of src into opt.To (see the package
// comment for why it is consistent while the server runs).
func Backup(ctx context.Context, src Source, opt BackupOptions) (*BackupResult, error) {
	start := time.Now()
	if opt.Attempts <= 0 {
		opt.Attempts = 5
	}
	if err := os.MkdirAll(opt.To, 0o750); err != nil {
		return nil, err
	}
	// What an earlier snapshot verified need not be read again.
	known := map[digest.Digest]int64{}
	if prev, err := ReadManifest(opt.To); err == nil && prev.BlobsLocation == BlobsInSnapshot {
		for _, b := range prev.Blobs {
			known[b.Digest] = b.Size
		}
	}
	// From here until the new manifest is written, the directory is an
	// interrupted backup.
	if err := os.Remove(filepath.Join(opt.To, ManifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := syncDir(opt.To); err != nil {
		return nil, err
	}
	inPlace := src.Shared && !opt.CopyBlobs
	res := &BackupResult{}
	c := &copier{src: src.Blobs, root: opt.To, link: !opt.NoLink && !src.Shared, known: known, progress: opt.Progress,
		done: map[digest.Digest]outcome{}, dirs: map[string]bool{}}
	var snap *dbSnapshot
	for {
		res.Attempts++
		var err error
		snap, err = snapshotDB(ctx, src, opt.To)
		if err != nil {
			return nil, err
		}
		var missing []digest.Digest
		if inPlace {
			missing, err = c.statAll(ctx, snap.blobs)
		} else {
			missing, err = c.copyAll(ctx, snap.blobs)
		}
		if err != nil {
			return nil, err
		}
		if len(missing) == 0 {
			break
		}
		if err := explainMissing(ctx, src, missing); err != nil {
			return nil, err
		}
		if res.Attempts >= opt.Attempts {
			return nil, fmt.Errorf("garbage collection deleted blobs under the backup %d times in a row (last: %s); try again later, or while no collection runs",
				res.Attempts, listDigests(missing))
		}
	}
	final := filepath.Join(opt.To, snap.file)
	if err := os.Rename(final+".tmp", final); err != nil {
		return nil, err
	}
	if err := c.syncDirs(); err != nil {
		return nil, err
	}
	if err := syncDir(opt.To); err != nil {
		return nil, err
	}
	sum, err := fileDigest(final)
	if err != nil {
		return nil, err
	}
	files, err := copyFiles(src.DataDir, opt.To)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Format: Format, Version: Version, CreatedAt: snap.at.UTC(), BerthVersion: opt.Version,
		Database: snap.kind, DatabaseFile: snap.file, DatabaseSHA256: sum.String(),
		BlobsLocation: BlobsInSnapshot, Counts: snap.counts, Blobs: snap.blobs, Files: files,
	}
	if inPlace {
		m.BlobsLocation = BlobsInPlace
	}
	if err := writeManifest(opt.To, m); err != nil {
		return nil, err
	}
	if res.Pruned, err = prune(opt.To, snap.blobs, inPlace); err != nil {
		return nil, fmt.Errorf("snapshot written; removing blobs no longer referenced: %w", err)
	}
	res.Manifest = m
	res.Linked, res.Copied, res.Skipped, res.Bytes = c.counts(snap.blobs)
	res.Duration = time.Since(start)
	return res, nil
}

// explainMissing returns nil if every missing blob's row is gone from
// the live database (a collection ran after our copy of it: take another),
// else an error naming the blobs the deployment has lost.
func explainMissing(ctx context.Context, src Source, missing []digest.Digest) error {
	db, err := openLive(ctx, src)
	if err != nil {
		return err
	}
	defer db.Close()
	still, err := blobRowsExist(ctx, db, src.DatabaseURL != "", missing)
	if err != nil {
		return err
	}
	var lost []digest.Digest
	for _, d := range missing {
		if still[d] {
			lost = append(lost, d)
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("%d blobs the database references are missing from the blob store (%s): the deployment has lost them; run berth fsck",
			len(lost), listDigests(lost))
	}
	return nil
}

// listDigests names the first few digests of ds.
func listDigests(ds []digest.Digest) string {
	var s []string
	for i, d := range ds {
		if i == maxListed {
			s = append(s, fmt.Sprintf("and %d more", len(ds)-maxListed))
			break
		}
		s = append(s, d.String())
	}
	return strings.Join(s, ", ")
}

// dbSnapshot is one copy of the database, at file+".tmp" in the snapshot
// directory until the blobs are copied.
type dbSnapshot struct {
	kind, file string
	at         time.Time
	blobs      []Blob
	counts     Counts
}

func snapshotDB(ctx context.Context, src Source, to string) (*dbSnapshot, error) {
	if src.DatabaseURL != "" {
		return snapshotPostgres(ctx, src, to)
	}
	return snapshotSQLite(ctx, src, to)
}

// snapshotSQLite copies the live file with VACUUM INTO over a read-only
// connection, then drops the upload sessions from the copy.
func snapshotSQLite(ctx context.Context, src Source, to string) (*dbSnapshot, error) {
	live, err := openSQLite(ctx, filepath.Join(src.DataDir, sqliteFile), true)
	if err != nil {
		return nil, err
	}
	defer live.Close()
	tmp := filepath.Join(to, sqliteFile+".tmp")
	for _, p := range []string{tmp, tmp + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	// VACUUM INTO wants a new or empty file; created here so it is 0600
	// (the database holds password hashes), not SQLite's 0644.
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	at := time.Now()
	if _, err := live.ExecContext(ctx, `VACUUM INTO '`+strings.ReplaceAll(tmp, "'", "''")+`'`); err != nil {
		return nil, fmt.Errorf("copying the database: %w", err)
	}
	db, err := openSQLite(ctx, tmp, false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM uploads`); err != nil {
		return nil, fmt.Errorf("snapshot: dropping upload sessions: %w", err)
	}
	snap := &dbSnapshot{kind: "sqlite", file: sqliteFile, at: at}
	if err := snap.read(ctx, db); err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return snap, syncFile(tmp)
}

// snapshotPostgres runs pg_dump in a snapshot exported by a REPEATABLE
// READ transaction that also lists the blobs, so the list and the dump
// are one consistent picture.
func snapshotPostgres(ctx context.Context, src Source, to string) (*dbSnapshot, error) {
	tool, err := pgTool(src.PGBin, "pg_dump")
	if err != nil {
		return nil, err
	}
	db, err := openPostgres(ctx, src.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only; ending it is all
	var id string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&id); err != nil {
		return nil, fmt.Errorf("exporting a snapshot: %w", err)
	}
	snap := &dbSnapshot{kind: "postgres", file: pgDumpFile, at: time.Now()}
	if err := snap.read(ctx, tx); err != nil {
		return nil, err
	}
	tmp := filepath.Join(to, pgDumpFile+".tmp")
	// Upload sessions stay out: their bytes are not in the snapshot.
	if err := pgCommand(ctx, tool, src.DatabaseURL, "--format=custom", "--no-owner", "--no-privileges",
		"--snapshot="+id, "--exclude-table-data=uploads", "--file="+tmp); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return nil, err
	}
	return snap, syncFile(tmp)
}

func (s *dbSnapshot) read(ctx context.Context, q queryer) error {
	var err error
	if s.blobs, err = listBlobs(ctx, q); err != nil {
		return err
	}
	s.counts, err = countRows(ctx, q, s.blobs)
	return err
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fileDigest is the sha256 of a file, read as a stream.
func fileDigest(path string) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return digest.SHA256.FromReader(f)
}

// prune removes from the snapshot's blobs/ every file that is not a blob
// of the new manifest (left by an earlier snapshot, or a copy cut short),
// and the whole directory when the blobs are in place.
func prune(root string, keep []Blob, inPlace bool) (int, error) {
	dir := filepath.Join(root, blobsDir)
	want := map[string]bool{}
	if !inPlace {
		for _, b := range keep {
			p, err := blobPath(root, b.Digest)
			if err != nil {
				return 0, err
			}
			want[p] = true
		}
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || want[p] {
			return err
		}
		if !strings.HasSuffix(p, ".tmp") {
			n++
		}
		return os.Remove(p)
	})
	return n, err
}

// sortedDigests is ds sorted, for stable messages.
func sortedDigests(ds []digest.Digest) []digest.Digest {
	slices.Sort(ds)
	return ds
}
