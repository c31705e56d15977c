package meta

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Project storage accounting (exact quotas).
//
// A project's used storage is the sum of the sizes of the distinct digests
// its repositories hold, each counted once in the project however many of
// its repositories hold it, and again in every other project that holds
// it (Harbor's definition). A repository holds:
//
//   - each of its manifests (their bytes are in the database, but Harbor
//     counts manifests as blobs);
//   - each blob linked into it, from when the link is made (an upload
//     completed, a mount, a copy) until the last manifest of the
//     repository that references it is deleted. Then the link is released:
//     it stays, readable, until garbage collection or an unlink removes
//     it, but no longer counts, so deleting an artifact frees what only it
//     used at once. The link counts again when it is made again or a new
//     manifest references it.
//
// Uploads in progress hold nothing: their bytes are not linked until the
// final PUT. The store keeps the usage in the transaction of every change,
// and refuses a change that would take a project past its storage limit
// with *QuotaExceededError, changing nothing.

// MaxStorageLimit is the largest storage limit a project may have:
// Harbor's 1024 TB.
const MaxStorageLimit = 1 << 50

// QuotaExceededError refuses a change that would take a project's used
// storage past its limit.
type QuotaExceededError struct {
	Project string
	Adding  int64 // bytes the change would add
	Used    int64 // bytes used before the change
	Limit   int64
}

func (e *QuotaExceededError) Error() string {
	return fmt.Sprintf("project %s: adding %d bytes to the %d used would exceed its storage limit of %d bytes",
		e.Project, e.Adding, e.Used, e.Limit)
}

// UsageChange is a committed change of a project's used storage, or a
// refused one (Refused: Before and After are the usage it left as it was).
type UsageChange struct {
	Project string
	// Repo and Digest are what the change was about: the repository, and
	// the blob or manifest pushed ("" for a release or several digests).
	Repo   string
	Digest digest.Digest
	Before int64
	After  int64
	// Adding is what a refused change asked for.
	Adding  int64
	Limit   int64 // UnlimitedStorage: none
	Refused bool
}

// UsageObserver is told of each usage change after it is committed (and of
// each refusal), with the context of the operation that made it. It must
// not block.
type UsageObserver func(ctx context.Context, c UsageChange)

// Quota is a project's storage quota: Harbor's quota of reference
// "project", whose id is the project's.
type Quota struct {
	ProjectID int64
	Project   string
	OwnerName string
	Limit     int64 // bytes; UnlimitedStorage: none
	Used      int64
	CreatedAt time.Time
	// UpdatedAt is the last change of the limit or of the usage.
	UpdatedAt time.Time
}

// QuotaStore reads and changes projects' quotas.
type QuotaStore interface {
	// Quotas lists the quotas of every project, with the total count.
	// Keys: reference_id (the project's id; Equal and AnyOf). Sort keys:
	// hard.storage (unlimited sorts last), used.storage, creation_time,
	// update_time; by default newest project first.
	Quotas(ctx context.Context, q ListQuery) ([]Quota, int64, error)
	// Quota returns project id's quota; ErrNotFound if there is no such
	// project.
	Quota(ctx context.Context, projectID int64) (*Quota, error)
	// SetStorageLimit changes project id's limit (which may be below what
	// it uses: only further charges are refused); ErrNotFound if there is
	// no such project.
	SetStorageLimit(ctx context.Context, projectID, limit int64) error
	// CheckQuota reports, without changing anything, whether linking blob
	// d of size bytes into repo would take its project past its limit
	// (*QuotaExceededError); with d "" whether the project is already past
	// it. The transaction that links decides; this lets a push fail before
	// its bytes are moved into place. A refusal is told to the
	// UsageObserver as a refused change.
	CheckQuota(ctx context.Context, repo string, d digest.Digest, size int64) error
	// RecountProjectUsage computes project's used storage from scratch,
	// from the links and manifests of its repositories: a check of what
	// ProjectSettingsStore.ProjectStorageUsed reads (the kept value); not
	// for request paths.
	RecountProjectUsage(ctx context.Context, project string) (int64, error)
}
