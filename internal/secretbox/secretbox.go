// Package secretbox seals the secrets berth must be able to read back
// (an OIDC client secret, an LDAP search password) before they are stored:
// AES-256-GCM under a key derived from the deployment's session key, bound
// to the name of what is sealed, so a sealed value copied to another
// setting does not open there. Passwords and CLI secrets that only need
// checking are hashed instead (auth.HashPassword).
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// prefix marks a sealed value (and its format version).
const prefix = "sbx1:"

// ErrOpen: a value is not sealed, was sealed under another key or for
// another name, or was altered.
var ErrOpen = errors.New("secretbox: cannot open the sealed value (altered, or sealed under another key)")

// Box seals and opens values. The zero Box is not usable: use New.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box whose key is derived from key (at least 32 bytes, the
// session key): the session key itself never encrypts anything.
func New(key []byte) (*Box, error) {
	if len(key) < 32 {
		return nil, errors.New("secretbox: key shorter than 32 bytes")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("berth secretbox v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext for name (e.g. the setting's key).
func (b *Box) Seal(name, plaintext string) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	ct := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(name))
	return prefix + base64.RawURLEncoding.EncodeToString(ct)
}

// Open decrypts a value Seal made for name. The empty string opens to
// the empty string (nothing stored).
func (b *Box) Open(name, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	raw, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", ErrOpen
	}
	ct, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(ct) < b.aead.NonceSize() {
		return "", ErrOpen
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, ct[:n], ct[n:], []byte(name))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}

// Sealed reports whether s has the form of a sealed value (it may still
// fail to open).
func Sealed(s string) bool { return strings.HasPrefix(s, prefix) }
