package auth

import (
	"crypto/sha256"
	"encoding/hex"
)

// CLI secrets may be longer than bcrypt reads (72 bytes; Harbor allows
// 128 characters): they are hashed as the hex SHA-256 of the secret, so
// every character counts.
func cliSecretInput(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// HashCLISecret returns the stored form of an OIDC user's CLI secret.
func HashCLISecret(secret string) (string, error) {
	return HashPassword(cliSecretInput(secret))
}

// checkCLISecret compares secret with a HashCLISecret hash ("" none).
func checkCLISecret(hash, secret string) bool {
	return CheckPassword(hash, cliSecretInput(secret))
}
