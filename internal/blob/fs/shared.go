package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/blob"
)

// MarkerName is the file at the store's root that holds its id (see
// Marker).
const MarkerName = "berth-store-id"

// tempPrefix starts the names of the store's own temporary files under
// uploads/; they are never valid upload ids, so Uploads does not report them.
const tempPrefix = ".tmp-"

// ErrNoMarker: the directory holds no store marker (see Marker).
var ErrNoMarker = errors.New("blob directory holds no store marker")

// Marker reads the id written by ClaimMarker. Several processes sharing
// the directory compare it with the one their database records, so one
// mounted on the wrong or an empty directory notices.
func (s *Store) Marker() (string, error) {
	b, err := os.ReadFile(s.markerPath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNoMarker
	}
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("blob directory marker %s is empty", s.markerPath())
	}
	return id, nil
}

// ClaimMarker writes id as the store's marker unless one is there, and
// returns the marker now in place: id, or the one another process wrote
// first. The file is written under a unique temporary name and linked
// into place, which never replaces an existing marker (no lock, which a
// shared filesystem may not honour across hosts).
func (s *Store) ClaimMarker(id string) (string, error) {
	tmp, err := s.writeTemp([]byte(id + "\n"))
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, s.markerPath())
	if linkUnsupported(err) {
		// Without hard links, O_EXCL on the final name decides who wins.
		err = writeExclusive(s.markerPath(), []byte(id+"\n"))
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	if err := syncDir(s.root()); err != nil {
		return "", err
	}
	return s.Marker()
}

// CheckWritable writes, syncs and removes a small file under a unique
// name: the directory is mounted, writable and has space for a little.
func (s *Store) CheckWritable() error {
	tmp, err := s.writeTemp([]byte("probe\n"))
	if err != nil {
		return err
	}
	return os.Remove(tmp)
}

// Empty reports whether the store holds no blob at all (not even a prefix
// directory): a fresh, or a wrongly mounted, directory.
func (s *Store) Empty() (bool, error) {
	algs, err := os.ReadDir(s.blobs)
	if err != nil {
		return false, err
	}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		prefixes, err := os.ReadDir(filepath.Join(s.blobs, a.Name()))
		if err != nil {
			return false, err
		}
		if len(prefixes) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// SweepTemp removes temporary files older than cutoff that a process
// left behind when it died between writing and removing them. Younger
// ones may be another process's work in progress and stay.
func (s *Store) SweepTemp(cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(s.uploads)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			continue // gone meanwhile, or young
		}
		if err := os.Remove(filepath.Join(s.uploads, e.Name())); err == nil {
			n++
		} else if !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
	}
	return n, nil
}

func (s *Store) root() string       { return filepath.Dir(s.blobs) }
func (s *Store) markerPath() string { return filepath.Join(s.root(), MarkerName) }

// writeTemp writes data to a new file with a unique name under uploads/
// (created with O_EXCL, so never another process's file), syncs it and
// returns its path.
func (s *Store) writeTemp(data []byte) (string, error) {
	p := filepath.Join(s.uploads, tempPrefix+blob.NewUploadID())
	if err := writeExclusive(p, data); err != nil {
		return "", err
	}
	return p, nil
}

// writeExclusive creates p (failing if it exists), writes data and syncs.
func writeExclusive(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
	}
	return err
}
