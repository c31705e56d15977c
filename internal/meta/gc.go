package meta

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrBlobDeletionPending: garbage collection removed the row of the blob
// being committed and queued (or already did) the deletion of its bytes.
// CommitBlob answers it before linking anything; the committer must make
// sure of the bytes through BlobReviver.ReviveBlob, then commit again.
var ErrBlobDeletionPending = errors.New("blob is being deleted by garbage collection")

// GCManifest is a manifest as garbage collection's mark phase sees it.
type GCManifest struct {
	Digest  digest.Digest
	Subject digest.Digest // "" when none
	Tagged  bool
	// CreatedAt is when the manifest was first pushed to the repository.
	CreatedAt time.Time
	// Children are the manifests it references as an index.
	Children []digest.Digest
}

// GCLink is a blob linked into a repository.
type GCLink struct {
	Repo      string
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// GCBlob is a blob, or a queued deletion of blob bytes, and its size.
type GCBlob struct {
	Digest digest.Digest
	Size   int64
}

// GCStore is what garbage collection (internal/gc) needs of the store: the
// reads of its mark phase, which may see a moving picture, and the deletes
// of its sweep, each of which checks again, under the locks a push takes,
// that what it deletes is still garbage. internal/gc describes the
// protocol.
type GCStore interface {
	// GCManifests calls fn, one repository at a time in name order, with
	// all the manifests of every repository that has an untagged one.
	GCManifests(ctx context.Context, fn func(repo string, ms []GCManifest) error) error
	// GCRefs calls fn with every reference (any kind) of the manifests of
	// repo.
	GCRefs(ctx context.Context, repo string, fn func(manifest, ref digest.Digest) error) error
	// GCUnreferencedLinks calls fn with every blob link created before
	// before that no manifest of its repository references.
	GCUnreferencedLinks(ctx context.Context, before time.Time, fn func(GCLink) error) error
	// GCLinks returns those of ds that are linked into repo.
	GCLinks(ctx context.Context, repo string, ds []digest.Digest) ([]GCLink, error)
	// GCLinkCounts returns how many repositories link each of ds (absent:
	// none).
	GCLinkCounts(ctx context.Context, ds []digest.Digest) (map[digest.Digest]int, error)
	// GCUnlinkedBlobs calls fn with every blob that no repository links.
	GCUnlinkedBlobs(ctx context.Context, fn func(GCBlob) error) error
	// GCPendingDeletions lists up to limit queued byte deletions not yet
	// done, in digest order after after.
	GCPendingDeletions(ctx context.Context, after digest.Digest, limit int) ([]GCBlob, error)

	// GCDeleteManifest deletes manifest d of repo through the normal
	// delete path if, under its row's lock, it is still garbage: created
	// before before, without tags, referenced by no index of repo, and
	// without a subject present in repo. It reports whether it did; a
	// manifest another transaction holds is left for the next run.
	GCDeleteManifest(ctx context.Context, repo string, d digest.Digest, before time.Time) (bool, error)
	// GCUnlink removes, through the normal unlink path (in one
	// transaction of repo's), the links of those of ds into repo that
	// under their rows' locks are still created before before and
	// referenced by no manifest of repo, and returns them.
	GCUnlink(ctx context.Context, repo string, ds []digest.Digest, before time.Time) ([]digest.Digest, error)
	// GCDeleteBlobs deletes the rows of those of ds that no repository
	// links, queues the deletion of their bytes in the same transaction,
	// and returns them.
	GCDeleteBlobs(ctx context.Context, ds []digest.Digest) ([]GCBlob, error)
	// GCDeleteBytes locks the queued, not yet done deletions of ds (those
	// another transaction holds are left for later) and, holding the
	// locks, calls del with them; each blob del reports no error for is
	// marked done, the others stay queued with their error. It returns
	// the ones done.
	GCDeleteBytes(ctx context.Context, ds []digest.Digest, del func(context.Context, []GCBlob) map[digest.Digest]error) ([]GCBlob, error)
	// GCPurgeTombstones forgets deletions done before before, and
	// returns how many.
	GCPurgeTombstones(ctx context.Context, before time.Time) (int64, error)
}

// BlobReviver is the optional capability of a Store whose garbage
// collection may race a commit of the same digest (the registry discovers
// it by type assertion). Whoever places blob bytes and then calls
// CommitBlob follows this protocol:
//
//  1. If BlobDeletionPending(d), place the bytes inside ReviveBlob's
//     ensure, then CommitBlob.
//  2. Else place the bytes, then CommitBlob; if it answers
//     ErrBlobDeletionPending, ReviveBlob with an ensure that makes sure
//     the bytes are there (placing them again if it can), then CommitBlob
//     again.
type BlobReviver interface {
	// BlobDeletionPending reports whether d is queued for byte deletion,
	// or was deleted recently.
	BlobDeletionPending(ctx context.Context, d digest.Digest) (bool, error)
	// ReviveBlob, if d is queued for deletion (or was deleted), calls
	// ensure holding the lock that deleting d's bytes takes: ensure must
	// make sure the bytes of d are in the blob store (placing them if
	// needed). If it succeeds, d leaves the queue, so its bytes are never
	// deleted for it. Without a queued deletion it does nothing.
	ReviveBlob(ctx context.Context, d digest.Digest, ensure func(context.Context) error) error
}
