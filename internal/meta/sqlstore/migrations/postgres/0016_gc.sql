-- The schema of migrations/sqlite/0016_gc.sql in PostgreSQL's types:
-- garbage collection's queue of blob bytes to delete, and its tombstones.
CREATE TABLE blob_deletions (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    size       BIGINT NOT NULL,
    queued_at  BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX blob_deletions_by_state ON blob_deletions (deleted_at, digest);
