// Package fs is the local-directory blob.Store of the embedded default.
//
// Layout under the root:
//
//	blobs/<alg>/<first two hex>/<hex>   committed, immutable blobs
//	uploads/<id>                        bytes of in-progress uploads
//
// A blob appears under blobs/ only by rename(2) of a fully written and
// fsynced upload file, so a reader never sees a partial blob.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/oci"
)

// Store is a blob.Store on a local directory.
type Store struct {
	blobs   string
	uploads string
}

var _ blob.Store = (*Store)(nil)

// New opens (creating if needed) a store rooted at dir.
func New(dir string) (*Store, error) {
	s := &Store{blobs: filepath.Join(dir, "blobs"), uploads: filepath.Join(dir, "uploads")}
	for _, d := range []string{s.blobs, s.uploads} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	return s, nil
}

// blobPath builds a path only from a digest that passed oci.ParseDigest, so
// no request input can steer it outside the root.
func (s *Store) blobPath(d digest.Digest) (string, error) {
	if _, err := oci.ParseDigest(string(d)); err != nil {
		return "", err
	}
	hex := d.Encoded()
	return filepath.Join(s.blobs, string(d.Algorithm()), hex[:2], hex), nil
}

func (s *Store) uploadPath(id string) (string, error) {
	if !blob.ValidUploadID(id) {
		return "", blob.ErrInvalidID
	}
	return filepath.Join(s.uploads, id), nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return blob.ErrNotFound
	}
	return err
}

// Stat implements blob.Store.
func (s *Store) Stat(_ context.Context, d digest.Digest) (int64, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notFound(err)
	}
	return fi.Size(), nil
}

// Open implements blob.Store; the reader is an *os.File.
func (s *Store) Open(_ context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	return openFile(s.blobPath(d))
}

// openFile opens a path that came from blobPath or uploadPath (or their error).
func openFile(p string, err error) (*os.File, error) {
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(err)
	}
	return f, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	return notFound(os.Remove(p))
}

// Append implements blob.Store.
func (s *Store) Append(_ context.Context, id string, offset int64) (blob.UploadWriter, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return nil, err
	}
	flags := os.O_WRONLY
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flags, 0o640)
	if err != nil {
		return nil, notFound(err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < offset {
		err = fmt.Errorf("upload %s holds %d bytes, fewer than the recorded offset %d", id, fi.Size(), offset)
	}
	if err == nil && fi.Size() > offset {
		err = f.Truncate(offset)
	}
	if err == nil {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &uploadWriter{f: f, flushed: offset, written: offset}, nil
}

// uploadWriter appends to an upload file. It starts writeback of every
// writebackChunk bytes as they arrive, so the fsync in Close, which a push
// must wait for, finds little left to write.
type uploadWriter struct {
	f                *os.File
	flushed, written int64
}

const writebackChunk = 8 << 20

func (w *uploadWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.flushed >= writebackChunk {
		startWriteback(w.f, w.flushed, w.written-w.flushed)
		w.flushed = w.written
	}
	return n, err
}

func (w *uploadWriter) Close() error {
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

func (w *uploadWriter) Abandon() { w.f.Close() }

// ReadUpload implements blob.Store.
func (s *Store) ReadUpload(_ context.Context, id string) (io.ReadCloser, error) {
	return openFile(s.uploadPath(id))
}

// Commit implements blob.Store: check the size, link the upload's file
// under the blob's name, drop the upload's name, and fsync the directory so
// the new name survives a power loss. It may be retried after a crash that
// came between the link and its caller's database commit.
//
// Several processes, on several hosts, may share the directory (a shared
// filesystem such as NFS): link(2) never replaces an existing name, so a
// blob a reader on another host has open is never swapped for a new inode
// under it (NFS would answer that reader ESTALE), and a concurrent Commit of
// the same digest finds the name taken, which is success: content-addressed
// bytes are identical. Sizes are read from an open file, not a path's
// cached attributes, and the result is checked again after the link.
func (s *Store) Commit(_ context.Context, id string, d digest.Digest, size int64) error {
	src, err := s.uploadPath(id)
	if err != nil {
		return err
	}
	dst, err := s.blobPath(d)
	if err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	n, err := fileSize(src)
	if errors.Is(err, fs.ErrNotExist) {
		// A Commit of this upload (here or on another replica) that moved
		// it into place and was then cut short is retried: the bytes are
		// already where they belong.
		if bn, berr := fileSize(dst); berr == nil && bn == size {
			return syncDir(dir)
		}
		return blob.ErrNotFound
	}
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("upload %s holds %d bytes, expected %d", id, n, size)
	}
	if err := ensureDir(dir); err != nil {
		return err
	}
	if err := publish(src, dst, size); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(dir)
}

// publishAttempts bounds publish's retries when a blob it found in place
// is deleted (by garbage collection) before it could check it.
const publishAttempts = 3

// publish gives src's file the name dst without ever replacing an existing
// dst, and returns once dst holds size bytes.
func publish(src, dst string, size int64) error {
	for range publishAttempts {
		err := os.Link(src, dst)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, fs.ErrExist):
			// Stored already (by another upload, maybe on another host).
		case errors.Is(err, fs.ErrNotExist):
			// src is gone: a concurrent Commit of this same upload moved
			// it; what counts is whether dst is now in place.
		case linkUnsupported(err):
			// A filesystem without hard links: rename is atomic too, at
			// the cost of replacing an identical blob already in place.
			if err := os.Rename(src, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		default:
			return err
		}
		n, serr := fileSize(dst)
		if serr == nil && n == size {
			return nil
		}
		if serr == nil {
			return fmt.Errorf("blob %s holds %d bytes, expected %d", filepath.Base(dst), n, size)
		}
		if !errors.Is(serr, fs.ErrNotExist) {
			return serr
		}
		if errors.Is(err, fs.ErrNotExist) {
			return blob.ErrNotFound // neither the upload nor the blob
		}
		// dst was deleted between our link attempt and the check: again.
	}
	return fmt.Errorf("blob %s: deleted again and again while being stored", filepath.Base(dst))
}

// fileSize opens p and reads its size from the open file: on NFS an open
// revalidates the attributes (close-to-open consistency), a stat of the
// path may answer from a cache another host's writes have made stale.
func fileSize(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// ensureDir creates a blob's prefix directory if needed. Another process
// may create it at the same time; MkdirAll takes that as success.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	// A new prefix directory must itself be durable in its parent, or a
	// power loss could drop the blob along with it.
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Abort implements blob.Store.
func (s *Store) Abort(_ context.Context, id string) error {
	p, err := s.uploadPath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Uploads implements blob.Store.
func (s *Store) Uploads(_ context.Context) ([]blob.UploadInfo, error) {
	entries, err := os.ReadDir(s.uploads)
	if err != nil {
		return nil, err
	}
	out := make([]blob.UploadInfo, 0, len(entries))
	for _, e := range entries {
		if !blob.ValidUploadID(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, blob.UploadInfo{ID: e.Name(), ModTime: fi.ModTime()})
	}
	return out, nil
}
