-- Harbor's labels and artifact labels, repository ids and descriptions,
-- and pull statistics.

-- Repositories get Harbor's numeric id, never reused (AUTOINCREMENT: a
-- repository re-created under a deleted one's name gets a new id), a
-- description, a pull count, the time of their last change of their own
-- (the description), and, computed from the name, their project's name
-- (what comes before the first "/"; '' if nothing does), which joins them
-- with projects. SQLite changes a table's key only by rebuilding it; ids
-- follow the order the repositories were created in. The name keeps its
-- unique index: a project's repositories are a range of it.
CREATE TABLE repositories_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    pull_count  INTEGER NOT NULL DEFAULT 0,
    project     TEXT GENERATED ALWAYS AS (
        CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE '' END) VIRTUAL
);
INSERT INTO repositories_new (name, created_at)
    SELECT name, created_at FROM repositories ORDER BY created_at, name;
DROP TABLE repositories;
ALTER TABLE repositories_new RENAME TO repositories;
CREATE UNIQUE INDEX repositories_by_name ON repositories (name);
CREATE INDEX repositories_by_project ON repositories (project);

-- When a manifest, and a tag, was last pulled (0: never).
ALTER TABLE manifests ADD COLUMN pull_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tags ADD COLUMN pull_time INTEGER NOT NULL DEFAULT 0;

-- Labels: global (scope 'g', no project) or of one project (scope 'p'),
-- which they go away with. A name is unique among the global labels and
-- among each project's.
CREATE TABLE labels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    color       TEXT NOT NULL DEFAULT '',
    scope       TEXT NOT NULL,
    project_id  INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CHECK (scope = 'g' AND project_id IS NULL OR scope = 'p' AND project_id IS NOT NULL)
);
CREATE UNIQUE INDEX labels_global_name ON labels (name) WHERE project_id IS NULL;
CREATE UNIQUE INDEX labels_project_name ON labels (project_id, name) WHERE project_id IS NOT NULL;

-- The labels added to an artifact (a manifest): they go away with the
-- label and with the manifest (deleted alone or with its repository).
CREATE TABLE artifact_labels (
    repo       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    label_id   INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repo, digest, label_id),
    FOREIGN KEY (repo, digest) REFERENCES manifests (repo, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX artifact_labels_by_label ON artifact_labels (label_id);
