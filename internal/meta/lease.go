package meta

import (
	"context"
	"time"
)

// Leaser grants named, expiring leases, so that a background job runs on one
// replica at a time. A holder that renews before expiry keeps its lease.
type Leaser interface {
	// TryLease takes or renews the lease name for holder until now+ttl. It
	// reports false while another holder's lease is still valid.
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
}
