-- The id of the blob directory replicas share (the marker file at its
-- root): at most one row, written once at the first start.
CREATE TABLE blob_dir (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    id         TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
