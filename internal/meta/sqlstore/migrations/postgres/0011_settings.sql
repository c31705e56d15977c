-- The schema of migrations/sqlite/0011_settings.sql in PostgreSQL's types.
CREATE TABLE settings (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
