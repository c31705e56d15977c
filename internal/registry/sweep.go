package registry

import (
	"context"
	"time"
)

// SweepUploads removes upload sessions untouched for longer than UploadTTL,
// and upload bytes that have no session (a monolithic upload cut short by a
// crash) once they are older than orphanAge. It returns how many it removed.
func (r *Registry) SweepUploads(ctx context.Context, orphanAge time.Duration) (int, error) {
	return r.sweepUploads(ctx, orphanAge, false)
}

// AbandonedUploads counts what SweepUploads would remove now (garbage
// collection's dry run).
func (r *Registry) AbandonedUploads(ctx context.Context, orphanAge time.Duration) (int, error) {
	return r.sweepUploads(ctx, orphanAge, true)
}

func (r *Registry) sweepUploads(ctx context.Context, orphanAge time.Duration, dry bool) (int, error) {
	removed := 0
	stale, err := r.meta.StaleUploads(ctx, time.Now().Add(-r.opt.UploadTTL), 1000)
	if err != nil {
		return 0, err
	}
	for _, u := range stale {
		if !dry {
			unlock := r.lockUpload(u.ID)
			r.dropUpload(ctx, u.ID)
			unlock()
		}
		removed++
	}
	files, err := r.blobs.Uploads(ctx)
	if err != nil {
		return removed, err
	}
	cutoff := time.Now().Add(-orphanAge)
	for _, f := range files {
		if f.ModTime.After(cutoff) {
			continue
		}
		exists, err := r.meta.UploadExists(ctx, f.ID)
		if err != nil {
			return removed, err
		}
		if !exists {
			if !dry {
				if err := r.blobs.Abort(ctx, f.ID); err != nil {
					return removed, err
				}
			}
			removed++
		}
	}
	if ts, ok := r.blobs.(tempSweeper); ok && !dry {
		n, err := ts.SweepTemp(cutoff)
		if n > 0 {
			r.log.Info("removed temporary files left in the blob store", "count", n)
		}
		return removed, err
	}
	return removed, nil
}

// tempSweeper is a blob store that writes temporary files of its own (the
// fs store's marker and probes). No database row names them, so only their
// age says that the process writing one is gone.
type tempSweeper interface {
	SweepTemp(cutoff time.Time) (int, error)
}
