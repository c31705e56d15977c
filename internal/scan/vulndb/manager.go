package vulndb

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// MaxDBSize caps trivy.db unpacked (Aqua's is a few hundred MB) and
// MaxMetaSize metadata.json: a gzip bomb is cut there.
const (
	MaxDBSize   = 4 << 30
	MaxMetaSize = 64 << 10
)

// Extract unpacks the layer r (tar.gz) into dir, taking only trivy.db and
// metadata.json as regular files at the top (no other path, no links),
// each under its size cap. dir must exist and be empty.
func Extract(r io.Reader, dir string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	tr := tar.NewReader(zr)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		name := filepath.Clean(h.Name)
		limit := int64(MaxDBSize)
		switch name {
		case dbFile:
		case metaFile:
			limit = MaxMetaSize
		default:
			continue
		}
		if h.Typeflag != tar.TypeReg || seen[name] {
			return fmt.Errorf("%w: %s is not one regular file", ErrInvalid, name)
		}
		seen[name] = true
		if h.Size > limit {
			return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrInvalid, name, h.Size, limit)
		}
		if err := writeFile(filepath.Join(dir, name), io.LimitReader(tr, limit)); err != nil {
			return err
		}
	}
	if !seen[dbFile] || !seen[metaFile] {
		return fmt.Errorf("%w: the layer lacks %s or %s", ErrInvalid, dbFile, metaFile)
	}
	return nil
}

func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Manager holds the active database under Dir (one directory per layer
// digest) and swaps it atomically: a reader holds a handle until it
// releases it, and a replaced database is closed once its last reader is
// done. The zero value needs Dir.
type Manager struct {
	Dir string

	mu  sync.RWMutex
	cur *handle
}

type handle struct {
	rw sync.RWMutex // readers share it; closing takes it
	db *DB
}

// Acquire returns the active database and the function that releases it,
// or nil (and a no-op) when none is active.
func (m *Manager) Acquire() (*DB, func()) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h := m.cur
	if h == nil {
		return nil, func() {}
	}
	h.rw.RLock() // under m.mu: a swap cannot close h before this
	return h.db, h.rw.RUnlock
}

// Active returns the digest and metadata of the active database (false
// if none).
func (m *Manager) Active() (string, Metadata, bool) {
	db, release := m.Acquire()
	defer release()
	if db == nil {
		return "", Metadata{}, false
	}
	return db.Digest, db.Meta(), true
}

// Install makes the database of the layer digest active, extracting it
// from open() unless Dir already holds it. A database that does not
// validate is refused with an ErrInvalid error, and the active one stays.
// Directories of databases other than the new and the previous one are
// removed.
func (m *Manager) Install(digest string, open func() (io.ReadCloser, error)) (*DB, error) {
	if cur, _, ok := m.Active(); ok && cur == digest {
		db, release := m.Acquire()
		release()
		return db, nil
	}
	name := dirName(digest)
	final := filepath.Join(m.Dir, name)
	db, err := Open(final, digest)
	if err != nil {
		if err := os.MkdirAll(m.Dir, 0o750); err != nil {
			return nil, err
		}
		var sfx [8]byte
		_, _ = rand.Read(sfx[:])
		tmp := filepath.Join(m.Dir, ".tmp-"+hex.EncodeToString(sfx[:]))
		if err := os.Mkdir(tmp, 0o750); err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		rc, err := open()
		if err != nil {
			return nil, err
		}
		err = Extract(rc, tmp)
		rc.Close()
		if err != nil {
			return nil, err
		}
		// Validate before it takes the final name: a refused database never
		// sits where a restart would find it.
		probe, err := Open(tmp, digest)
		if err != nil {
			return nil, err
		}
		probe.Close()
		_ = os.RemoveAll(final)
		if err := os.Rename(tmp, final); err != nil {
			return nil, err
		}
		if db, err = Open(final, digest); err != nil {
			return nil, err
		}
	}
	m.swap(db)
	return db, nil
}

func (m *Manager) swap(db *DB) {
	m.mu.Lock()
	old := m.cur
	m.cur = &handle{db: db}
	m.mu.Unlock()
	keep := map[string]bool{dirName(db.Digest): true}
	if old != nil {
		keep[dirName(old.db.Digest)] = true
		go func() { // waits for the readers still on it
			old.rw.Lock()
			old.db.Close()
			old.rw.Unlock()
		}()
	}
	if ents, err := os.ReadDir(m.Dir); err == nil {
		for _, e := range ents {
			if e.IsDir() && !keep[e.Name()] && e.Name()[0] != '.' {
				_ = os.RemoveAll(filepath.Join(m.Dir, e.Name()))
			}
		}
	}
}

// Close closes the active database.
func (m *Manager) Close() error {
	m.mu.Lock()
	h := m.cur
	m.cur = nil
	m.mu.Unlock()
	if h == nil {
		return nil
	}
	h.rw.Lock()
	defer h.rw.Unlock()
	return h.db.Close()
}

// dirName is a digest as a directory name ("sha256-abc…").
func dirName(digest string) string {
	out := []byte(digest)
	for i, c := range out {
		if c == ':' || c == '/' {
			out[i] = '-'
		}
	}
	if len(out) == 0 || out[0] == '.' {
		return "x" + string(out)
	}
	return string(out)
}

// IsInvalid reports whether err is a refusal of the database itself
// (rather than an I/O failure).
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }
