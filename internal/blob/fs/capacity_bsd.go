//go:build darwin || freebsd

package fs

import "syscall"

// Capacity reports the size of the filesystem that holds the blobs and the
// space left on it for berth (not counting blocks reserved for root), in
// bytes: what Harbor's /systeminfo/volumes shows.
func (s *Store) Capacity() (total, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.blobs, &st); err != nil {
		return 0, 0, err
	}
	// The fields' types differ between systems; BSD's Bavail goes
	// negative when the reserved blocks are in use.
	avail := max(int64(st.Bavail), 0)
	return uint64(st.Blocks) * uint64(st.Bsize), uint64(avail) * uint64(st.Bsize), nil
}
