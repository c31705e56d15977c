package blob

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Redirector is an optional capability of a Store whose blobs clients can
// fetch directly (an object store): RedirectURL returns a URL, valid for
// ttl, that serves the bytes of committed blob d with GET. The registry
// discovers it by type assertion and answers GET with a redirect to it.
type Redirector interface {
	RedirectURL(ctx context.Context, d digest.Digest, ttl time.Duration) (string, error)
}
