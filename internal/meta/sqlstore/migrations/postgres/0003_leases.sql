-- The schema of migrations/sqlite/0003_leases.sql in PostgreSQL's types.
CREATE TABLE leases (
    name       TEXT COLLATE "C" PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
