package gc

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
)

// Batch sizes of the sweep's transactions. They are small so that on
// SQLite, where the sweep shares the one writer with pushes, no
// transaction holds it long.
const (
	linkBatch = 64
	blobBatch = 256
	// fileBatch and objectBatch bound the byte deletions of one
	// transaction: files deleted one by one, or objects of a store that
	// deletes in batches (S3 takes 1,000 keys a request).
	fileBatch   = 128
	objectBatch = 1000
)

// sweep deletes what pl found, re-checking each deletion in the store.
func (c *Collector) sweep(ctx context.Context, p Params, pl *plan, before time.Time, logf Logf) (Result, error) {
	var res Result
	var err error
	if res.PurgedManifests, err = c.sweepManifests(ctx, p.Workers, pl.manifests, before, logf); err != nil {
		return res, err
	}
	if res.UnlinkedBlobs, err = c.sweepLinks(ctx, p.Workers, pl.links, before); err != nil {
		return res, err
	}
	logf("deleted %d manifests, unlinked %d blobs", res.PurgedManifests, res.UnlinkedBlobs)
	deleted, err := c.sweepBlobs(ctx, p.Workers, pl.blobs)
	for _, b := range deleted {
		res.PurgedBlobs++
		res.FreedSpace += b.Size
	}
	if err != nil {
		return res, err
	}
	logf("deleted %d blob rows (%d bytes); deleting their bytes", res.PurgedBlobs, res.FreedSpace)
	if res.DeletedBytes, res.FailedBytes, err = c.sweepBytes(ctx, p.Workers, logf); err != nil {
		return res, err
	}
	if c.SweepUploads != nil {
		n, err := c.SweepUploads(ctx)
		res.PurgedUploads = int64(n)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			logf("sweeping abandoned uploads: %v (retried next run)", err)
		}
	}
	if n, err := c.Meta.GCPurgeTombstones(ctx, c.now().Add(-TombstoneAge)); err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		logf("forgetting old byte deletions: %v", err)
	} else if n > 0 {
		logf("forgot %d byte deletions done more than %s ago", n, TombstoneAge)
	}
	return res, nil
}

// paced runs one sweep transaction, then waits Pace times as long as it
// took (ctx ending cuts the wait short): a worker holds the store (on
// SQLite, its one writer) a 1/(1+Pace) share of the time at most, and
// pushes are served in between.
func (c *Collector) paced(ctx context.Context, tx func() error) error {
	start := time.Now()
	err := tx()
	pace := c.Pace
	if pace == 0 {
		pace = DefaultPace
	}
	if wait := time.Duration(pace * float64(time.Since(start))); err == nil && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return err
}

// parallel runs fn on each of n items with up to workers goroutines,
// stopping at the first error or when ctx ends.
func parallel(ctx context.Context, workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if stop {
					return
				}
				err := ctx.Err()
				if err == nil {
					err = fn(i)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// sweepManifests deletes the garbage manifests, each repository's in
// order, repositories in parallel.
func (c *Collector) sweepManifests(ctx context.Context, workers int, ms []manifestRef, before time.Time, logf Logf) (int64, error) {
	var repos [][]manifestRef
	for i, m := range ms {
		if i == 0 || ms[i-1].Repo != m.Repo {
			repos = append(repos, nil)
		}
		repos[len(repos)-1] = append(repos[len(repos)-1], m)
	}
	var n atomic.Int64
	err := parallel(ctx, workers, len(repos), func(i int) error {
		for _, m := range repos[i] {
			if err := ctx.Err(); err != nil {
				return err
			}
			var ok bool
			err := c.paced(ctx, func() (err error) {
				ok, err = c.Meta.GCDeleteManifest(ctx, m.Repo, m.Digest, before)
				return err
			})
			if err != nil {
				return err
			}
			if ok {
				n.Add(1)
				logf("deleted manifest %s@%s", m.Repo, m.Digest)
			}
		}
		return nil
	})
	return n.Load(), err
}

// sweepLinks removes the garbage links, in batches of one repository's
// (each a transaction of that repository's project).
func (c *Collector) sweepLinks(ctx context.Context, workers int, links []meta.GCLink, before time.Time) (int64, error) {
	links = slices.Clone(links)
	slices.SortFunc(links, func(a, b meta.GCLink) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Digest, b.Digest))
	})
	var batches [][]meta.GCLink
	for i, l := range links {
		if i == 0 || links[i-1].Repo != l.Repo || len(batches[len(batches)-1]) == linkBatch {
			batches = append(batches, nil)
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], l)
	}
	var n atomic.Int64
	err := parallel(ctx, workers, len(batches), func(i int) error {
		ds := make([]digest.Digest, len(batches[i]))
		for j, l := range batches[i] {
			ds[j] = l.Digest
		}
		return c.paced(ctx, func() error {
			done, err := c.Meta.GCUnlink(ctx, batches[i][0].Repo, ds, before)
			n.Add(int64(len(done)))
			return err
		})
	})
	return n.Load(), err
}

func (c *Collector) sweepBlobs(ctx context.Context, workers int, bs []meta.GCBlob) ([]meta.GCBlob, error) {
	var mu sync.Mutex
	var out []meta.GCBlob
	batches := (len(bs) + blobBatch - 1) / blobBatch
	err := parallel(ctx, workers, batches, func(i int) error {
		batch := bs[i*blobBatch : min(len(bs), (i+1)*blobBatch)]
		ds := make([]digest.Digest, len(batch))
		for j, b := range batch {
			ds[j] = b.Digest
		}
		return c.paced(ctx, func() error {
			done, err := c.Meta.GCDeleteBlobs(ctx, ds)
			mu.Lock()
			out = append(out, done...)
			mu.Unlock()
			return err
		})
	})
	return out, err
}

// sweepBytes deletes the bytes of every queued deletion: this run's and
// those earlier runs could not finish. A failure is logged and left
// queued; it does not end the run.
func (c *Collector) sweepBytes(ctx context.Context, workers int, logf Logf) (deleted, failed int64, err error) {
	var dn, fn atomic.Int64
	bd, batched := c.Blobs.(blob.BatchDeleter)
	page := fileBatch
	if batched {
		page = objectBatch
	}
	del := func(ctx context.Context, bs []meta.GCBlob) map[digest.Digest]error {
		ds := make([]digest.Digest, len(bs))
		for i, b := range bs {
			ds[i] = b.Digest
		}
		var errs map[digest.Digest]error
		if batched {
			errs = bd.DeleteBatch(ctx, ds)
		} else {
			errs = c.deleteEach(ctx, workers, ds)
		}
		for d, err := range errs {
			if fn.Add(1) <= maxDetails {
				logf("deleting the bytes of blob %s: %v (retried next run)", d, err)
			}
		}
		return errs
	}
	for after := digest.Digest(""); ; {
		if err := ctx.Err(); err != nil {
			return dn.Load(), fn.Load(), err
		}
		// workers pages at a time, each in its own transaction.
		pending, err := c.Meta.GCPendingDeletions(ctx, after, page*workers)
		if err != nil {
			return dn.Load(), fn.Load(), err
		}
		if len(pending) == 0 {
			break
		}
		after = pending[len(pending)-1].Digest
		batches := (len(pending) + page - 1) / page
		err = parallel(ctx, workers, batches, func(i int) error {
			batch := pending[i*page : min(len(pending), (i+1)*page)]
			ds := make([]digest.Digest, len(batch))
			for j, b := range batch {
				ds[j] = b.Digest
			}
			return c.paced(ctx, func() error {
				done, err := c.Meta.GCDeleteBytes(ctx, ds, del)
				dn.Add(int64(len(done)))
				return err
			})
		})
		if err != nil {
			return dn.Load(), fn.Load(), err
		}
		if len(pending) < page*workers {
			break
		}
	}
	return dn.Load(), fn.Load(), nil
}

// deleteEach deletes blobs one at a time, up to workers at once; a blob
// already missing counts as deleted.
func (c *Collector) deleteEach(ctx context.Context, workers int, ds []digest.Digest) map[digest.Digest]error {
	var mu sync.Mutex
	errs := map[digest.Digest]error{}
	// Every blob is tried (the control ignores ctx): one not tried would
	// count as deleted. A cancelled ctx fails the remaining Deletes.
	_ = parallel(context.WithoutCancel(ctx), workers, len(ds), func(i int) error {
		if err := c.Blobs.Delete(ctx, ds[i]); err != nil && !errors.Is(err, blob.ErrNotFound) {
			mu.Lock()
			errs[ds[i]] = err
			mu.Unlock()
		}
		return nil
	})
	return errs
}
