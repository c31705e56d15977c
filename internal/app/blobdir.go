package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/berth-registry/berth/internal/blob"
	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
)

// sharedDir is the fs store on a directory several replicas share
// (--blob-dir outside --data-dir, with PostgreSQL). It is the store
// itself, plus the readiness check that this replica has mounted the same
// filesystem as the others: the marker file at the directory's root must
// hold the id the database records.
type sharedDir struct {
	*blobfs.Store
	dir  string
	meta meta.BlobDirStore
	log  *slog.Logger

	mu sync.Mutex
	id string // the verified id; "" until the first check passes
}

// guardSharedDir returns the store a server uses: with a shared blob
// directory, s checked by /readyz against the database m.
func guardSharedDir(ctx context.Context, cfg config.Config, s blob.Store, m meta.BlobDirStore, log *slog.Logger) blob.Store {
	dir, ok := s.(*blobfs.Store)
	if !ok || !cfg.SharedBlobDir() {
		return s
	}
	return newSharedDir(ctx, dir, cfg.BlobRoot(), m, log)
}

func newSharedDir(ctx context.Context, s *blobfs.Store, dir string, m meta.BlobDirStore, log *slog.Logger) *sharedDir {
	sd := &sharedDir{Store: s, dir: dir, meta: m, log: log}
	if err := sd.Ping(ctx); err != nil {
		// Not fatal: /readyz keeps refusing, with this message, until the
		// right filesystem is mounted.
		log.Error("shared blob directory not usable; /readyz refuses until it is", "dir", dir, "err", err)
	} else {
		log.Info("blobs in a shared directory", "dir", dir, "store_id", sd.id)
	}
	return sd
}

// Ping is the /readyz check (found by pingBlobs): the directory is
// writable and holds the marker the database records.
func (sd *sharedDir) Ping(ctx context.Context) error {
	if err := sd.CheckWritable(); err != nil {
		return fmt.Errorf("blob directory %s is not writable: %w", sd.dir, err)
	}
	sd.mu.Lock()
	defer sd.mu.Unlock()
	if sd.id == "" {
		id, err := sd.establish(ctx)
		if err != nil {
			return err
		}
		sd.id = id
	}
	// Read every time: an unmounted filesystem or a remount elsewhere
	// shows here.
	marker, err := sd.Marker()
	if err != nil {
		return sd.noMarker(err, sd.id)
	}
	if marker != sd.id {
		return sd.mismatch(marker, sd.id)
	}
	return nil
}

// establish agrees with the database (and the other replicas) on the
// directory's id, writing the marker and the row at the first start.
func (sd *sharedDir) establish(ctx context.Context) (string, error) {
	recorded, err := sd.meta.BlobDirID(ctx)
	if err != nil {
		return "", err
	}
	marker, err := sd.Marker()
	switch {
	case err == nil:
	case !errors.Is(err, blobfs.ErrNoMarker):
		return "", err
	default:
		// Unmarked: a first start, unless the database knows this is not
		// the directory (an empty one mounted in place of the store).
		empty, err := sd.Empty()
		if err != nil {
			return "", err
		}
		has, err := sd.meta.HasBlobs(ctx)
		if err != nil {
			return "", err
		}
		if empty && (has || recorded != "") {
			return "", fmt.Errorf("blob directory %s is empty, but the database records blobs and blob directory %q: "+
				"the shared filesystem the other replicas use is not mounted at --blob-dir", sd.dir, recorded)
		}
		if recorded != "" {
			return "", sd.noMarker(blobfs.ErrNoMarker, recorded)
		}
		if marker, err = sd.ClaimMarker(blob.NewUploadID()); err != nil {
			return "", err
		}
	}
	if recorded == "" {
		if recorded, err = sd.meta.ClaimBlobDirID(ctx, marker); err != nil {
			return "", err
		}
	}
	if marker != recorded {
		return "", sd.mismatch(marker, recorded)
	}
	return recorded, nil
}

func (sd *sharedDir) noMarker(err error, recorded string) error {
	return fmt.Errorf("blob directory %s: %w, but the database records blob directory %s: "+
		"the shared filesystem is not mounted at --blob-dir, or it is not the one the other replicas use "+
		"(if it is and only the marker was lost, write that id to %s)", sd.dir, err, recorded, filepath.Join(sd.dir, blobfs.MarkerName))
}

func (sd *sharedDir) mismatch(marker, recorded string) error {
	return fmt.Errorf("blob directory %s is blob directory %s, but the database records %s: "+
		"this replica has mounted another filesystem than the other replicas", sd.dir, marker, recorded)
}
