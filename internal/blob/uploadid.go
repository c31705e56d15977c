package blob

import (
	"crypto/rand"
	"encoding/hex"
)

// uploadIDLen is the length of ids from NewUploadID: 16 random bytes in hex.
const uploadIDLen = 32

// NewUploadID returns an unguessable upload id. Knowing the id is the only
// handle on an upload session, so it must not be predictable.
func NewUploadID() string {
	var b [uploadIDLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// ValidUploadID reports whether id could have come from NewUploadID. Stores
// check it before building any path or key from an id.
func ValidUploadID(id string) bool {
	if len(id) != uploadIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
