// Package gc is berth's online garbage collector: it deletes untagged
// manifests (when asked), unlinks blobs that no manifest of their
// repository references, deletes the rows of blobs that no repository
// links, and then their bytes — while pushes and pulls go on. Nothing is
// ever read-only. A run is a job of kind "gc" (internal/jobs); it has a dry
// run, which reports exactly what a real run would delete.
//
// # What is garbage
//
// Let before be the run's start minus its time window (Harbor's
// time_window parameter, in hours; 0 is allowed).
//
//   - With delete_untagged, a manifest is garbage if it was pushed before
//     before, has no tag, and is not kept: a manifest is kept if it is
//     tagged or pushed since before, or is the child of an index that is
//     kept, or has a subject (it is an accessory: a signature, an SBOM)
//     that is kept. Garbage manifests go through the store's normal
//     manifest delete (with a tag guard that refuses any tag, so a
//     manifest tagged meanwhile stays); indexes before their children,
//     subjects before their accessories.
//   - A link of a blob into a repository is garbage if it was made before
//     before and no manifest of the repository references the blob (after
//     the deletions above). It goes through the store's normal unlink.
//   - A blob is garbage when no repository links it. Its row is deleted
//     and its bytes are queued for deletion (table blob_deletions), then
//     deleted.
//
// The time window is a courtesy, not what makes this safe: a blob pushed
// by a client that has not pushed its manifest yet is unreferenced, and
// with a window of 0 its link may be removed. The client's manifest PUT is
// then refused with MANIFEST_BLOB_UNKNOWN (its reference check finds no
// link) and the client uploads the blob again. A push is never
// acknowledged and then lost.
//
// # The protocol
//
// The mark phase reads the store without locks (it may see a moving
// picture); the sweep re-checks every deletion under the locks the
// pushing side takes (internal/meta/sqlstore, gc.go). On PostgreSQL the
// sweep locks with FOR UPDATE SKIP LOCKED: rows a push holds are in use
// and left for the next run, and the collector never waits for a push. On
// SQLite the single writer serializes everything.
//
//  1. A manifest PUT checks each reference under a share lock on the link
//     (and the blob row); the collector's unlink locks the link and then
//     checks that no manifest references it. Whichever is first, the
//     other sees its effect: the manifest commits and the link stays, or
//     the link is gone and the PUT is refused (MANIFEST_BLOB_UNKNOWN). A
//     client that skipped an upload after a HEAD found the link (docker
//     does) is in that case too. Linking a digest that is already linked
//     (a commit, a mount, a copy) locks the existing link, so it cannot
//     be unlinked between that and commit.
//  2. A blob row is deleted only in a transaction that locks it and finds
//     no link; a new link's foreign key check locks the same row, so no
//     link can appear before that transaction commits. The deletion is
//     queued in blob_deletions in the same transaction. Invariant: a
//     digest with a queued deletion has no blob row.
//  3. Bytes are deleted later, in a transaction that locks the queued row
//     (still not done) and finds no blob row, while holding those locks.
//     The row is then marked done and stays a day as a tombstone.
//  4. A blob commit (registry: bytes placed in the blob store, then
//     meta.Store.CommitBlob) races (3): the bytes of a digest are at one
//     key, so a commit that finds them already there drops its own upload,
//     and a deletion right after would delete the bytes the commit relies
//     on. So CommitBlob, after linking (its foreign key check holds the
//     blob row), refuses with meta.ErrBlobDeletionPending while any
//     blob_deletions row exists for the digest, queued or done, and
//     changes nothing; this keeps the invariant of (2). The committer then
//     calls meta.BlobReviver.ReviveBlob, which takes the lock of (3) on
//     that row and, holding it, makes sure of the bytes — placing them
//     again from the upload if it is still there, else checking they exist
//     — and only then removes the row, so (3) will not delete them; then
//     it commits again. Before placing its bytes at all, a committer asks
//     whether a deletion is queued and if so places them inside
//     ReviveBlob from the start. A commit whose bytes were deleted between
//     its placing them and its CommitBlob (both (2) and (3) ran in that
//     window) finds them gone in ReviveBlob and is refused
//     (BLOB_UPLOAD_UNKNOWN): the client uploads again.
//  5. Tombstones are forgotten a day after the deletion: a commit whose
//     placing of bytes and CommitBlob are more than a day apart is not
//     covered. (That is a bound on one request, not the time window.)
//
// Deletions of bytes that fail (an object store error) stay queued and are
// retried by the next run; a missing blob counts as deleted. An object
// store that implements blob.BatchDeleter (S3: DeleteObjects, 1,000 keys a
// request) deletes in batches; others one blob at a time.
package gc
