// Package auth establishes who a caller is (local users, robot accounts,
// anonymous), guards logins against brute force, and runs the Docker token
// service whose signed tokens carry what the caller may do.
package auth

import (
	"crypto/rand"
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the cost of new password hashes. Tests lower it.
var BcryptCost = bcrypt.DefaultCost

// MaxPasswordLength is bcrypt's input limit.
const MaxPasswordLength = 72

// ErrWeakPassword is returned for a password that is too short or long.
var ErrWeakPassword = errors.New("password must be 8 to 72 characters")

// HashPassword returns a bcrypt hash of pw.
func HashPassword(pw string) (string, error) {
	if len(pw) < 8 || len(pw) > MaxPasswordLength {
		return "", ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	return string(h), err
}

// CheckPassword compares pw with a bcrypt hash in constant time.
func CheckPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordLength || hash == "" {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// NewSecret returns a random secret of n characters from an unambiguous
// alphabet, for generated passwords and robot secrets.
func NewSecret(n int) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
