package fs

import (
	"errors"
	"syscall"
)

// linkUnsupported reports whether link(2) failed because the filesystem
// has no hard links (Linux answers EPERM, others ENOTSUP or EOPNOTSUPP).
func linkUnsupported(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}
