package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	blobs3 "github.com/berth-registry/berth/internal/blob/s3"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/registry"
)

// redirectTTL is how long a presigned blob URL handed to a client lives:
// long enough to start a large download (S3 checks it only at the start).
const redirectTTL = 20 * time.Minute

// sharedOrphanAge: with a store shared by replicas, upload bytes without a
// session may belong to a monolithic upload in flight on another replica,
// so the startup sweep leaves young ones alone.
const sharedOrphanAge = time.Hour

// openBlobs opens the blob store the configuration names: an S3 bucket
// for --storage s3 (shared by replicas), else --blob-dir (shared by
// replicas if outside --data-dir), by default the data directory.
func openBlobs(ctx context.Context, cfg config.Config, log *slog.Logger) (blob.Store, error) {
	if cfg.Storage.Kind != "s3" {
		return blobfs.New(cfg.BlobRoot())
	}
	o := cfg.Storage.S3
	s, err := blobs3.New(ctx, blobs3.Options{
		Endpoint: o.Endpoint, Bucket: o.Bucket, Prefix: o.Prefix, Region: o.Region,
		AccessKey: o.AccessKey, SecretKey: o.SecretKey, PathStyle: o.PathStyle,
	})
	if err != nil {
		return nil, err
	}
	// Never the secret key.
	log.Info("blobs in S3", "endpoint", o.Endpoint, "bucket", o.Bucket, "prefix", o.Prefix,
		"path_style", o.PathStyle, "redirect", o.Redirect)
	return s, nil
}

// blobRedirectTTL is registry.Options.RedirectTTL: redirects only to S3.
func blobRedirectTTL(cfg config.Config) time.Duration {
	if cfg.Storage.Kind == "s3" && cfg.Storage.S3.Redirect {
		return redirectTTL
	}
	return 0
}

// sweepAtStartup removes upload bytes that have no session: all of them
// in the data directory we hold locked (leftovers of a crash), only old
// ones in S3. In a shared blob directory none: another replica may be
// writing them; the leased upload sweep (runJobs) removes old ones there.
func sweepAtStartup(ctx context.Context, cfg config.Config, reg *registry.Registry, log *slog.Logger) {
	age := time.Duration(0)
	switch {
	case cfg.SharedBlobDir():
		return
	case cfg.Storage.Kind == "s3":
		age = sharedOrphanAge
	}
	if n, err := reg.SweepUploads(ctx, age); err != nil {
		log.Warn("sweeping uploads at startup", "err", err)
	} else if n > 0 {
		log.Info("removed abandoned uploads", "count", n)
	}
}

// pingBlobs checks a store that can be unreachable (S3) or mounted wrong
// (a shared directory) for /readyz.
func pingBlobs(ctx context.Context, s blob.Store) error {
	if p, ok := s.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}
