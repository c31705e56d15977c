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
	// Block counts are in units of the fragment size, which is not always
	// the block size (Bsize may be the preferred I/O size).
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return st.Blocks * unit, st.Bavail * unit, nil
}
