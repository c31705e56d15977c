-- User and robot ids are never reused (Harbor's are not): without
-- AUTOINCREMENT SQLite gives a new row the largest id + 1, so deleting the
-- newest robot and creating another handed the deleted one's id to the new
-- one, and a script still holding the old id (PUT/DELETE /robots/{id},
-- /users/{id}) acted on somebody else. As in 0005, AUTOINCREMENT needs a
-- rebuild; the runner turns foreign keys off around a migration, so
-- project_members and oidc_users keep their rows and their references to
-- users, and are checked before commit.
CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL DEFAULT '',
    realname      TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    sysadmin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
INSERT INTO users_new (id, username, email, realname, comment, password_hash, sysadmin, disabled, created_at, updated_at)
    SELECT id, username, email, realname, comment, password_hash, sysadmin, disabled, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_by_username_nocase ON users (username COLLATE NOCASE);

CREATE TABLE robots_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    level        TEXT NOT NULL,
    project_id   INTEGER NOT NULL DEFAULT 0,
    secret_hash  TEXT NOT NULL,
    disabled     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL DEFAULT 0,
    permissions  TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    creator_type TEXT NOT NULL DEFAULT '',
    creator_ref  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO robots_new (id, name, description, level, project_id, secret_hash, disabled, expires_at, permissions,
                        created_at, updated_at, creator_type, creator_ref)
    SELECT id, name, description, level, project_id, secret_hash, disabled, expires_at, permissions,
           created_at, updated_at, creator_type, creator_ref FROM robots;
DROP TABLE robots;
ALTER TABLE robots_new RENAME TO robots;
CREATE INDEX robots_by_project ON robots (project_id);
