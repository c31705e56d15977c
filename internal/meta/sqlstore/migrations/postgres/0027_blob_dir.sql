-- The schema of migrations/sqlite/0027_blob_dir.sql in PostgreSQL's types.
CREATE TABLE blob_dir (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    id         TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
