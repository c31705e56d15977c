-- Garbage collection's queue of blob bytes to delete (internal/gc holds
-- the whole protocol). When the collector deletes a blob's row (no
-- repository links it any more) it queues the digest here in the same
-- transaction; the bytes are deleted later, only while this row is locked
-- and no blobs row exists. A commit of the same digest checks this table
-- after locking the blob row and, finding the digest, makes sure of the
-- bytes under this row's lock (or re-places them) before it removes the
-- row: so a push racing the collector never has its bytes deleted.
--
-- deleted_at is 0 while the bytes are still to be deleted. Afterwards the
-- row stays, as a tombstone, for a day: a commit that placed its bytes
-- just before they were deleted still finds the row and checks.
-- attempts and last_error record failed deletions (retried next run).
CREATE TABLE blob_deletions (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    queued_at  INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX blob_deletions_by_state ON blob_deletions (deleted_at, digest);
