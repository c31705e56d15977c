package backup

import (
	"context"
	_ "crypto/sha256" // digest algorithms
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
)

// workers is how many blobs are copied at once: enough to overlap an
// object store's latency, few enough for a small machine.
const workers = 4

// copier copies (or links) blobs from a store into root's blobs/.
type copier struct {
	src      blob.Store
	root     string
	link     bool                    // try hard links first
	known    map[digest.Digest]int64 // verified by an earlier snapshot
	progress *Progress

	mu   sync.Mutex
	done map[digest.Digest]outcome // what became of each blob, first time
	dirs map[string]bool           // to fsync at the end
}

// outcome of one blob.
type outcome int

const (
	none    outcome = iota // not copied (blobs left in place)
	skipped                // already in the snapshot directory
	linked
	copied
	missing
)

// forEach runs fn on every blob with a few workers, stopping at the first
// error, and returns the digests fn found missing.
func forEach(ctx context.Context, blobs []Blob, p *Progress, phase string, fn func(context.Context, Blob) (outcome, error)) ([]digest.Digest, error) {
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	p.Start(phase, len(blobs), total)
	defer p.Finish()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Blob)
	var (
		mu       sync.Mutex
		firstErr error
		gone     []digest.Digest
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for b := range work {
				o, err := fn(ctx, b)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
					cancel()
				case err == nil && o == missing:
					gone = append(gone, b.Digest)
				}
				mu.Unlock()
				p.Add(1, b.Size)
			}
		})
	}
	for _, b := range blobs {
		if ctx.Err() != nil {
			break
		}
		work <- b
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sortedDigests(gone), nil
}

// copyAll brings every blob into the snapshot, returning those the store
// does not have (any more).
func (c *copier) copyAll(ctx context.Context, blobs []Blob) ([]digest.Digest, error) {
	return forEach(ctx, blobs, c.progress, "blobs", func(ctx context.Context, b Blob) (outcome, error) {
		o, err := c.copyOne(ctx, b)
		if err == nil && o != missing {
			c.mu.Lock()
			defer c.mu.Unlock()
			// A blob copied by an earlier attempt of this backup is
			// skipped by the next: it still counts as copied.
			if _, ok := c.done[b.Digest]; !ok {
				c.done[b.Digest] = o
			}
		}
		return o, err
	})
}

// statAll checks that every blob is in the store with its size, for
// blobs left in place.
func (c *copier) statAll(ctx context.Context, blobs []Blob) ([]digest.Digest, error) {
	return forEach(ctx, blobs, c.progress, "blobs checked in place", func(ctx context.Context, b Blob) (outcome, error) {
		size, err := c.src.Stat(ctx, b.Digest)
		switch {
		case errors.Is(err, blob.ErrNotFound):
			return missing, nil
		case err != nil:
			return 0, fmt.Errorf("blob %s: %w", b.Digest, err)
		case size != b.Size:
			return 0, fmt.Errorf("blob %s in the blob store has %d bytes, the database says %d: run berth fsck", b.Digest, size, b.Size)
		}
		return skipped, nil
	})
}

func (c *copier) copyOne(ctx context.Context, b Blob) (outcome, error) {
	p, err := blobPath(c.root, b.Digest)
	if err != nil {
		return 0, fmt.Errorf("blob %q in the database: %w", b.Digest, err)
	}
	if fi, err := os.Stat(p); err == nil {
		if size, ok := c.known[b.Digest]; ok && size == b.Size && fi.Size() == b.Size {
			return skipped, nil
		}
		if fi.Size() == b.Size {
			if err := verifyFile(p, b); err == nil {
				return skipped, nil
			}
		}
		if err := os.Remove(p); err != nil {
			return 0, err
		}
	}
	rc, err := c.src.Open(ctx, b.Digest)
	if errors.Is(err, blob.ErrNotFound) {
		return missing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.dirs[filepath.Dir(p)] = true
	link := c.link
	c.mu.Unlock()
	if f, ok := rc.(*os.File); ok && link {
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if fi.Size() != b.Size {
			return 0, fmt.Errorf("blob %s in the blob store has %d bytes, the database says %d: run berth fsck", b.Digest, fi.Size(), b.Size)
		}
		if err := os.Link(f.Name(), p); err == nil {
			return linked, nil
		}
		// Another file system, or one without hard links: copy from now on.
		c.mu.Lock()
		c.link = false
		c.mu.Unlock()
	}
	if err := writeBlob(p, rc, b); err != nil {
		return 0, err
	}
	return copied, nil
}

// counts says what became of the blobs of the final snapshot: linked,
// copied, found in the snapshot directory, and the bytes linked or copied.
func (c *copier) counts(blobs []Blob) (linkedN, copiedN, skippedN int, bytes int64) {
	for _, b := range blobs {
		switch c.done[b.Digest] {
		case linked:
			linkedN++
			bytes += b.Size
		case copied:
			copiedN++
			bytes += b.Size
		case skipped:
			skippedN++
		}
	}
	return
}

// syncDirs fsyncs the directories blobs were linked or renamed into.
func (c *copier) syncDirs() error {
	for d := range c.dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// ErrCorrupt: bytes whose digest or size is not the blob's.
var ErrCorrupt = errors.New("corrupt blob")

// writeBlob writes r to path through path.tmp, checking size and digest
// as it streams, then fsyncs and renames.
func writeBlob(path string, r io.Reader, b Blob) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	err = copyVerified(f, r, b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// copyVerified copies r to w (io.Discard to only verify), failing with
// ErrCorrupt if r is not exactly blob b.
func copyVerified(w io.Writer, r io.Reader, b Blob) error {
	if !b.Digest.Algorithm().Available() {
		return fmt.Errorf("blob %s: unsupported digest algorithm", b.Digest)
	}
	v := b.Digest.Verifier()
	n, err := io.Copy(io.MultiWriter(w, v), io.LimitReader(r, b.Size+1))
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	if n != b.Size {
		return fmt.Errorf("%w %s: %d bytes, want %d", ErrCorrupt, b.Digest, n, b.Size)
	}
	if !v.Verified() {
		return fmt.Errorf("%w %s: content does not match its digest", ErrCorrupt, b.Digest)
	}
	return nil
}

// verifyFile checks that the file at path is blob b.
func verifyFile(path string, b Blob) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return copyVerified(io.Discard, f, b)
}
