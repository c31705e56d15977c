-- A project's trust material for signatures (berth's signing-keys API):
-- cosign public keys and notation certificates, as PEM, going with their
-- project when it is deleted.
CREATE TABLE signing_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    pem        TEXT NOT NULL,
    creator    TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    UNIQUE (project_id, name)
);

-- The version of each project's keys, bumped in the transaction of every
-- change to them: verdicts cached under an older version are stale.
CREATE TABLE signing_key_versions (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL
);

-- The signature policies are re-read every second (SigningPolicies): find
-- the projects that switched one on without reading all metadata.
CREATE INDEX project_metadata_name_value ON project_metadata (name, value);
