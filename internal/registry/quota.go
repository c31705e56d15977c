package registry

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/quota"
)

// Project quotas on /v2. The store charges what a push links in the
// transaction that links it, and refuses a charge past the project's limit
// (*meta.QuotaExceededError: 403 DENIED with Harbor's message, nothing
// recorded): at upload completion, mount, and manifest PUT. Uploads in
// progress are charged nothing. Before bytes are moved into place, and
// when an upload starts, the registry asks the store whether the push
// would fit (meta.QuotaStore's CheckQuota), as Harbor fails fast, so a
// refused upload leaves no blob behind and a full project refuses an
// upload before its bytes are sent.

// quotaChecker is the pre-check of a store that has quotas.
type quotaChecker interface {
	CheckQuota(ctx context.Context, repo string, d digest.Digest, size int64) error
}

var _ quotaChecker = meta.QuotaStore(nil)

// checkQuota asks the store whether linking d (size bytes; "" and 0: any
// push at all) into repo fits in its project's quota; nil if the store
// keeps no quotas.
func (r *Registry) checkQuota(ctx context.Context, repo string, d digest.Digest, size int64) error {
	if qc, ok := r.meta.(quotaChecker); ok {
		return qc.CheckQuota(ctx, repo, d, size)
	}
	return nil
}

// errQuota is the answer to a push refused by a project's quota: Harbor's
// 403 DENIED and message.
func errQuota(e *meta.QuotaExceededError) *Error {
	return CodeDenied.Err("%s", quota.Message(e))
}
