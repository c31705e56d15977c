package fs_test

import "testing"

// TestCapacity: the blob directory's filesystem has a size, and no more
// free space than that.
func TestCapacity(t *testing.T) {
	s := newStore(t, t.TempDir())
	total, free, err := s.Capacity()
	if err != nil || total == 0 || free > total {
		t.Fatalf("Capacity() = %d, %d, %v", total, free, err)
	}
}
