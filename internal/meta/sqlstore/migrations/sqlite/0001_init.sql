-- Repositories appear on their first push (blob link or manifest).
CREATE TABLE repositories (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Global, content-addressed blobs whose bytes are committed in blob.Store.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A repository may read a blob only through a link: the access boundary.
CREATE TABLE repository_blobs (
    repo       TEXT NOT NULL,
    digest     TEXT NOT NULL REFERENCES blobs (digest),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repo          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    artifact_type TEXT NOT NULL DEFAULT '',
    subject       TEXT,
    annotations   TEXT,
    size          INTEGER NOT NULL,
    body          BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repo, subject) WHERE subject IS NOT NULL;

-- What each manifest references (config, layers, index children), so GC,
-- quotas and "is this still used" are queries, not scans of storage.
CREATE TABLE manifest_refs (
    repo     TEXT NOT NULL,
    manifest TEXT NOT NULL,
    ref      TEXT NOT NULL,
    kind     INTEGER NOT NULL,
    PRIMARY KEY (repo, manifest, ref)
) WITHOUT ROWID;
CREATE INDEX manifest_refs_by_ref ON manifest_refs (repo, ref);

-- The primary key orders tags by name, so a page after "last" is an index
-- range scan whose cost does not grow with the number of tags.
CREATE TABLE tags (
    repo       TEXT NOT NULL,
    name       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repo, name)
) WITHOUT ROWID;
CREATE INDEX tags_by_digest ON tags (repo, digest);

CREATE TABLE tag_history (
    id     INTEGER PRIMARY KEY,
    repo   TEXT NOT NULL,
    name   TEXT NOT NULL,
    digest TEXT NOT NULL,
    action TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX tag_history_by_tag ON tag_history (repo, name, at);

CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    repo       TEXT NOT NULL,
    received   INTEGER NOT NULL,
    hash_state BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX uploads_by_updated ON uploads (updated_at);
