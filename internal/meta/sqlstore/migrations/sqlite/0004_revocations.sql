-- Token and session revocation: a subject's epoch is bumped when its
-- credentials must stop working (account disabled or deleted, password or
-- secret changed, session logged out). Replicas poll by changed_at.
CREATE TABLE revocations (
    subject    TEXT PRIMARY KEY,
    epoch      INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX revocations_changed_at ON revocations (changed_at);
