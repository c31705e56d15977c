-- Replication (internal/replication): remote registry endpoints and
-- replication policies. access_secret is sealed by the application
-- (never stored in clear). A policy names its registries as columns, so a
-- registry in use cannot be deleted (RESTRICT: Harbor's 412); the rest of
-- the policy is Harbor's JSON. Executions and tasks are job rows
-- (0013_jobs), kind "replication", vendor the policy.
CREATE TABLE registries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL,
    url             TEXT NOT NULL,
    credential_type TEXT NOT NULL DEFAULT '',
    access_key      TEXT NOT NULL DEFAULT '',
    access_secret   TEXT NOT NULL DEFAULT '',
    insecure        INTEGER NOT NULL DEFAULT 0,
    ca_certificate  TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE TABLE replication_policies (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    src_registry_id  INTEGER REFERENCES registries (id) ON DELETE RESTRICT,
    dest_registry_id INTEGER REFERENCES registries (id) ON DELETE RESTRICT,
    enabled          INTEGER NOT NULL DEFAULT 0,
    policy           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX replication_policies_src ON replication_policies (src_registry_id);
CREATE INDEX replication_policies_dest ON replication_policies (dest_registry_id);
