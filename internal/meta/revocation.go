package meta

import (
	"context"
	"time"
)

// Revocation is the token epoch of one subject ("user:alice",
// "robot:robot$p+ci", "session:<id>"): credentials issued at an older
// epoch are no longer valid.
type Revocation struct {
	Subject   string
	Epoch     int64
	ChangedAt time.Time
}

// RevocationStore keeps revocation epochs, shared by every replica through
// the database.
type RevocationStore interface {
	// Revoke increments subject's epoch (from 0) and returns the new one.
	Revoke(ctx context.Context, subject string) (int64, error)
	// ListRevocations returns the subjects changed at or after since.
	ListRevocations(ctx context.Context, since time.Time) ([]Revocation, error)
	// PruneRevocations deletes the subjects starting with prefix last
	// changed before before (expired sessions: nothing can carry them).
	PruneRevocations(ctx context.Context, prefix string, before time.Time) (int64, error)
}
