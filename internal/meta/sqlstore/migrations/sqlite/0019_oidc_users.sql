-- OIDC users: the identity (issuer, subject) a user was onboarded with,
-- and the CLI secret's bcrypt hash.
CREATE TABLE oidc_users (
    user_id        INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    secret_hash    TEXT NOT NULL DEFAULT '',
    secret_set_at  INTEGER NOT NULL DEFAULT 0,
    admin_by_group INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);
