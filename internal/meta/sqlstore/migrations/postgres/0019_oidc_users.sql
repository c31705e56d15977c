-- The schema of migrations/sqlite/0019_oidc_users.sql in PostgreSQL's types.
CREATE TABLE oidc_users (
    user_id        BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    issuer         TEXT COLLATE "C" NOT NULL,
    subject        TEXT COLLATE "C" NOT NULL,
    secret_hash    TEXT NOT NULL DEFAULT '',
    secret_set_at  BIGINT NOT NULL DEFAULT 0,
    admin_by_group INTEGER NOT NULL DEFAULT 0,
    groups         TEXT NOT NULL DEFAULT '[]',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
