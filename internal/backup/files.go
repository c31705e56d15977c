package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
)

// filesDir holds, in a snapshot, the data directory's files that are
// neither the database nor blobs.
const filesDir = "files"

// dataFiles are the files of a data directory a restored deployment
// needs besides its database and blobs: the token signing key (tokens
// stay valid), the session key (it also seals the secrets stored in the
// database, such as the LDAP search password: without it they cannot be
// read) and the ACME certificate cache. Keys kept elsewhere (--token-key,
// --session-key) are not here and must be backed up with the other
// secrets of the deployment.
var dataFiles = []string{"token.key", "session.key", "acme"}

// File is one file of the data directory kept in a snapshot.
type File struct {
	Path   string        `json:"path"` // relative to the data directory, slash-separated
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// copyFiles copies the data directory's dataFiles into the snapshot's
// files/, replacing what an earlier snapshot had there.
func copyFiles(dataDir, to string) ([]File, error) {
	dst := filepath.Join(to, filesDir)
	if err := os.RemoveAll(dst); err != nil {
		return nil, err
	}
	if dataDir == "" {
		return nil, nil
	}
	var out []File
	for _, name := range dataFiles {
		root := filepath.Join(dataDir, name)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(dataDir, p)
			if err != nil {
				return err
			}
			f, err := copyFile(p, filepath.Join(dst, rel))
			if err != nil {
				return err
			}
			f.Path = filepath.ToSlash(rel)
			out = append(out, f)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("copying %s: %w", name, err)
		}
	}
	return out, nil
}

// copyFile copies src to dst (0600: these are keys), fsynced, and returns
// its digest and size.
func copyFile(src, dst string) (File, error) {
	r, err := os.Open(src)
	if err != nil {
		return File{}, err
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return File{}, err
	}
	w, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return File{}, err
	}
	dg := digest.SHA256.Digester()
	n, err := r.WriteTo(&multi{w, dg.Hash()})
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, err
	}
	return File{Digest: dg.Digest(), Size: n}, syncDir(filepath.Dir(dst))
}

// multi writes to a file and a hash.
type multi struct {
	f *os.File
	h interface{ Write([]byte) (int, error) }
}

func (m *multi) Write(p []byte) (int, error) {
	m.h.Write(p) //nolint:errcheck // a hash never fails
	return m.f.Write(p)
}

// restoreFiles checks and copies the snapshot's files into the new data
// directory tmp.
func restoreFiles(from, tmp string, files []File) error {
	for _, f := range files {
		if !validRel(f.Path) {
			return fmt.Errorf("snapshot refused: bad file path %q in %s", f.Path, ManifestFile)
		}
		got, err := copyFile(filepath.Join(from, filesDir, filepath.FromSlash(f.Path)), filepath.Join(tmp, filepath.FromSlash(f.Path)))
		if err != nil {
			return fmt.Errorf("snapshot file %s: %w", f.Path, err)
		}
		if got.Digest != f.Digest || got.Size != f.Size {
			return fmt.Errorf("snapshot refused: file %s is corrupt (%s, %d bytes; the manifest says %s, %d bytes)", f.Path, got.Digest, got.Size, f.Digest, f.Size)
		}
	}
	return nil
}

// validRel: a clean relative path under one of dataFiles.
func validRel(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || filepath.ToSlash(filepath.Clean(filepath.FromSlash(p))) != p {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." {
			return false
		}
	}
	for _, name := range dataFiles {
		if p == name || strings.HasPrefix(p, name+"/") {
			return true
		}
	}
	return false
}
