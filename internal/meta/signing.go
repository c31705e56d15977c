package meta

import (
	"context"
	"errors"
	"time"
)

// Signing key types: what a project's trust material verifies.
const (
	// SigningKeyCosign is a PEM PKIX public key (ECDSA, Ed25519 or RSA)
	// that cosign signatures must verify with.
	SigningKeyCosign = "cosign"
	// SigningKeyNotation is a PEM X.509 certificate (a root or CA, or the
	// signing certificate itself) a notation signature's chain must
	// contain.
	SigningKeyNotation = "notation"
)

// MaxSigningKeys bounds the keys of one project: a pull of a guarded
// artifact may try each of them.
const MaxSigningKeys = 50

// SigningKey is a project's trust material for signatures (berth's
// addition to Harbor): a public key or a certificate, as PEM. It is public
// by nature; nothing in it is secret.
type SigningKey struct {
	ID        int64
	ProjectID int64
	Name      string
	Type      string // SigningKeyCosign or SigningKeyNotation
	PEM       string
	Creator   string
	CreatedAt time.Time
}

// SigningPolicy is what the signature policy of one project needs on the
// pull path: which signatures it requires (Harbor's project metadata
// enable_content_trust_cosign and enable_content_trust, the latter for
// notation) and the version of its keys, bumped by every change to them.
type SigningPolicy struct {
	ProjectID       int64
	Project         string // its name
	RequireCosign   bool
	RequireNotation bool
	// KeysVersion changes whenever a key of the project is added or
	// deleted (verdicts cached under an older version are stale).
	KeysVersion int64
}

// SigningStore keeps the projects' signing keys. Keys go with their
// project when it is deleted.
type SigningStore interface {
	// CreateSigningKey stores k (setting ID and CreatedAt); ErrNotFound if
	// the project is gone, ErrConflict if it has a key of that name,
	// ErrSigningKeyLimit past MaxSigningKeys.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys lists the keys of a project, by id, with the total
	// count. Keys: name, type.
	SigningKeys(ctx context.Context, projectID int64, q ListQuery) ([]SigningKey, int64, error)
	// SigningKey returns one key of a project; ErrNotFound if absent.
	SigningKey(ctx context.Context, projectID, id int64) (*SigningKey, error)
	// DeleteSigningKey deletes one key of a project; ErrNotFound if absent.
	DeleteSigningKey(ctx context.Context, projectID, id int64) error
	// SigningPolicies returns the policy of every project that requires a
	// signature or has keys (the others need nothing checked).
	SigningPolicies(ctx context.Context) ([]SigningPolicy, error)
}

// ErrSigningKeyLimit: the project already has MaxSigningKeys keys.
var ErrSigningKeyLimit = errors.New("too many signing keys")

// PolicyViolationError says a pull was refused by a project's policy
// (Harbor's PROJECTPOLICYVIOLATION, 412): Message is Harbor's wording.
type PolicyViolationError struct {
	Message string
}

func (e *PolicyViolationError) Error() string { return e.Message }
