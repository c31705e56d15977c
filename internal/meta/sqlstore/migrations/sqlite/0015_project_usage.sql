-- Exact project quotas: what each project's repositories hold, counted
-- once per digest in the project, maintained in the transaction of every
-- change (sqlstore/quota.go).

-- A blob link counts towards its project's usage (charged = 1) from when
-- it is made (upload complete, mount, copy) until the last manifest of its
-- repository that references it is deleted; it counts again when made
-- again or when a new manifest references it. A link that stops counting
-- stays, readable, for garbage collection to remove. Every existing link
-- counts: until now deleting a manifest released nothing.
ALTER TABLE repository_blobs ADD COLUMN charged INTEGER NOT NULL DEFAULT 1;

-- The digests a project holds, each with its size and the number of its
-- holders: charged links and manifests of the project's repositories. A
-- digest leaves the project (and its size the usage) when refs reaches 0.
-- project is the repository name's part before the first "/" (the
-- repositories.project column): keyed by name, as repositories are.
CREATE TABLE project_blobs (
    project TEXT NOT NULL,
    digest  TEXT NOT NULL,
    size    INTEGER NOT NULL,
    refs    INTEGER NOT NULL,
    PRIMARY KEY (project, digest)
) WITHOUT ROWID;

-- A project's used storage: the sum of project_blobs.size over its rows.
CREATE TABLE project_usage (
    project    TEXT PRIMARY KEY,
    used       INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO project_blobs (project, digest, size, refs)
    SELECT r.project, h.digest, MAX(h.size), COUNT(*) FROM (
        SELECT rb.repo AS repo, rb.digest AS digest, b.size AS size
            FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
        UNION ALL
        SELECT m.repo, m.digest, m.size FROM manifests m) h
    JOIN repositories r ON r.name = h.repo
    GROUP BY r.project, h.digest;

INSERT INTO project_usage (project, used, updated_at)
    SELECT project, SUM(size), CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM project_blobs GROUP BY project;
