-- The schema of migrations/sqlite/0004_revocations.sql in PostgreSQL's types.
CREATE TABLE revocations (
    subject    TEXT COLLATE "C" PRIMARY KEY,
    epoch      BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX revocations_changed_at ON revocations (changed_at);
