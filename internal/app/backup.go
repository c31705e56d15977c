package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/backup"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
)

// BackupSource opens the deployment cfg describes for berth backup and
// berth fsck: no data directory lock (the running server holds it) and no
// migration; the database is opened by package backup, read-only.
func BackupSource(ctx context.Context, cfg config.Config, log *slog.Logger) (backup.Source, error) {
	src := backup.Source{DataDir: cfg.DataDir, DatabaseURL: cfg.Database.URL, Shared: cfg.Storage.Kind == "s3", BlobDir: cfg.Storage.BlobDir}
	if cfg.Database.URL == "" {
		// Not blobfs.New's MkdirAll on a mistyped path: a berth data
		// directory has its database.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "meta.db")); err != nil {
			return src, fmt.Errorf("no berth database in --data-dir %s: %w", cfg.DataDir, err)
		}
	}
	var err error
	src.Blobs, err = openBlobs(ctx, cfg, log)
	return src, err
}

// RestoreBlobs opens the S3 bucket cfg names, where a snapshot that left
// its blobs in place verifies them; nil for --storage fs.
func RestoreBlobs(ctx context.Context, cfg config.Config, log *slog.Logger) (blob.Store, error) {
	if cfg.Storage.Kind != "s3" {
		return nil, nil
	}
	return openBlobs(ctx, cfg, log)
}
