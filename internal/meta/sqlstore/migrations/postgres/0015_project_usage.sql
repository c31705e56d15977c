-- The schema change of migrations/sqlite/0015_project_usage.sql in
-- PostgreSQL's types.
ALTER TABLE repository_blobs ADD COLUMN charged INTEGER NOT NULL DEFAULT 1;

CREATE TABLE project_blobs (
    project TEXT COLLATE "C" NOT NULL,
    digest  TEXT COLLATE "C" NOT NULL,
    size    BIGINT NOT NULL,
    refs    BIGINT NOT NULL,
    PRIMARY KEY (project, digest)
);

CREATE TABLE project_usage (
    project    TEXT COLLATE "C" PRIMARY KEY,
    used       BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO project_blobs (project, digest, size, refs)
    SELECT r.project, h.digest, MAX(h.size), COUNT(*) FROM (
        SELECT rb.repo AS repo, rb.digest AS digest, b.size AS size
            FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
        UNION ALL
        SELECT m.repo, m.digest, m.size FROM manifests m) h
    JOIN repositories r ON r.name = h.repo
    GROUP BY r.project, h.digest;

INSERT INTO project_usage (project, used, updated_at)
    SELECT project, SUM(size), CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) FROM project_blobs GROUP BY project;
