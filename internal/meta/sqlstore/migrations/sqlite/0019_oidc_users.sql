-- OIDC users: the identity (issuer, subject) a user was onboarded with,
-- the CLI secret's bcrypt hash, and the groups of the last sign-in.
CREATE TABLE oidc_users (
    user_id        INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    secret_hash    TEXT NOT NULL DEFAULT '',
    secret_set_at  INTEGER NOT NULL DEFAULT 0,
    admin_by_group INTEGER NOT NULL DEFAULT 0,
    groups         TEXT NOT NULL DEFAULT '[]',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);
