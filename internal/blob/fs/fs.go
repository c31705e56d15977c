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

// Commit implements blob.Store: check the size, rename into place, and
// fsync the directory so the rename itself survives a power loss. It may be
// retried after a crash that came between the rename and its caller's
// database commit.
func (s *Store) Commit(_ context.Context, id string, d digest.Digest, size int64) error {
	src, err := s.uploadPath(id)
	if err != nil {
		return err
	}
	dst, err := s.blobPath(d)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		// A Commit of this upload that renamed it into place and was then
		// cut short (a crash before the caller recorded the blob) is
		// retried: the bytes are already where they belong.
		if bfi, berr := os.Stat(dst); berr == nil && bfi.Size() == size {
			return syncDir(filepath.Dir(dst))
		}
	}
	if err != nil {
		return notFound(err)
	}
	if fi.Size() != size {
		return fmt.Errorf("upload %s holds %d bytes, expected %d", id, fi.Size(), size)
	}
	if _, err := os.Stat(dst); err == nil {
		return os.Remove(src) // already stored: identical bytes by construction
	}
	dir := filepath.Dir(dst)
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		// A new prefix directory must itself be durable in its parent,
		// or a power loss could drop the blob along with it.
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return syncDir(dir)
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
