package oci

import (
	"crypto/sha256"
	_ "crypto/sha512" // registers sha512 with go-digest
	"errors"
	"hash"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ErrDigestInvalid is returned for a digest string that is not one of the
// algorithms we accept, or whose encoded part is malformed.
var ErrDigestInvalid = errors.New("invalid digest")

// Algorithms the registry accepts. sha384 and others registered with
// go-digest are refused: the OCI image spec names only these two.
const (
	SHA256 = digest.SHA256
	SHA512 = digest.SHA512
)

// ParseDigest validates s without regular expressions (it runs on every
// blob and manifest request) and returns it as a digest.Digest.
func ParseDigest(s string) (digest.Digest, error) {
	alg, hexPart, ok := strings.Cut(s, ":")
	if !ok {
		return "", ErrDigestInvalid
	}
	var want int
	switch alg {
	case "sha256":
		want = 64
	case "sha512":
		want = 128
	default:
		return "", ErrDigestInvalid
	}
	if len(hexPart) != want {
		return "", ErrDigestInvalid
	}
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", ErrDigestInvalid
		}
	}
	return digest.Digest(s), nil
}

// IsDigest reports whether a manifest reference looks like a digest (as
// opposed to a tag). Tags cannot contain ':', so the colon decides.
func IsDigest(ref string) bool { return strings.IndexByte(ref, ':') >= 0 }

// NewHash returns a fresh hash for a supported algorithm.
func NewHash(alg digest.Algorithm) (hash.Hash, error) {
	switch alg {
	case SHA256:
		return sha256.New(), nil
	case SHA512:
		return alg.Hash(), nil
	}
	return nil, ErrDigestInvalid
}

// EmptySHA256 is the digest of zero bytes.
var EmptySHA256 = digest.SHA256.FromBytes(nil)
