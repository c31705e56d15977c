-- Leases make a background job run on one replica at a time: a job runs
-- only while its holder's lease has not expired.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
