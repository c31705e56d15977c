package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// The files of a snapshot directory.
const (
	ManifestFile = "snapshot.json"
	sqliteFile   = "meta.db"
	pgDumpFile   = "meta.pgdump"
	blobsDir     = "blobs"
)

// Format and Version identify a snapshot manifest; restore refuses others.
const (
	Format  = "berth-snapshot"
	Version = 1
)

// Where a snapshot's blobs are.
const (
	BlobsInSnapshot = "snapshot" // under blobs/ in the snapshot directory
	BlobsInPlace    = "in-place" // left in the deployment's S3 bucket
)

// Manifest is snapshot.json.
type Manifest struct {
	Format       string    `json:"format"`
	Version      int       `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	BerthVersion string    `json:"berth_version"`
	// Database is "sqlite" or "postgres"; DatabaseFile its file in the
	// snapshot and DatabaseSHA256 that file's digest.
	Database       string `json:"database"`
	DatabaseFile   string `json:"database_file"`
	DatabaseSHA256 string `json:"database_sha256"`
	BlobsLocation  string `json:"blobs_location"`
	Counts         Counts `json:"counts"`
	Blobs          []Blob `json:"blobs"`
	// Files are the data directory's keys and certificate cache.
	Files []File `json:"files"`
}

// Counts summarise a snapshot's database.
type Counts struct {
	Repositories int   `json:"repositories"`
	Artifacts    int   `json:"artifacts"` // manifests (per repository)
	Tags         int   `json:"tags"`
	Blobs        int   `json:"blobs"`
	BlobBytes    int64 `json:"blob_bytes"`
}

// Blob is one referenced blob.
type Blob struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// ErrIncomplete: the directory holds no finished snapshot.
var ErrIncomplete = errors.New("no snapshot.json: not a snapshot, or an interrupted backup")

// ReadManifest reads and checks dir's snapshot.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrIncomplete)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if m.Format != Format || m.Version != Version {
		return nil, fmt.Errorf("%s: format %q version %d, want %q version %d", ManifestFile, m.Format, m.Version, Format, Version)
	}
	switch {
	case m.Database == "sqlite" && m.DatabaseFile == sqliteFile:
	case m.Database == "postgres" && m.DatabaseFile == pgDumpFile:
	default:
		return nil, fmt.Errorf("%s: unknown database %q (file %q)", ManifestFile, m.Database, m.DatabaseFile)
	}
	if m.BlobsLocation != BlobsInSnapshot && m.BlobsLocation != BlobsInPlace {
		return nil, fmt.Errorf("%s: unknown blobs_location %q", ManifestFile, m.BlobsLocation)
	}
	for _, b := range m.Blobs {
		if _, err := oci.ParseDigest(string(b.Digest)); err != nil || b.Size < 0 {
			return nil, fmt.Errorf("%s: bad blob entry %q (%d bytes)", ManifestFile, b.Digest, b.Size)
		}
	}
	return &m, nil
}

// writeManifest writes dir's snapshot.json atomically: a reader sees the
// old file (none, during a backup) or the whole new one, also after a
// crash.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o640)
}

// writeFileAtomic writes path through a temporary file, fsync and rename,
// then fsyncs the directory so the rename survives a power loss.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// blobPath is where blob d lives under root (a snapshot or a data
// directory): the fs store's layout. d is checked first, so a digest read
// from a file cannot steer the path outside root.
func blobPath(root string, d digest.Digest) (string, error) {
	if _, err := oci.ParseDigest(string(d)); err != nil {
		return "", err
	}
	hex := d.Encoded()
	return filepath.Join(root, blobsDir, string(d.Algorithm()), hex[:2], hex), nil
}
