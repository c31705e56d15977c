-- Audit records and robot permissions name their project by id, not by
-- name, so that a project re-created under a deleted one's name inherits
-- neither its audit log nor robot grants. That needs ids that are never
-- reused: without AUTOINCREMENT SQLite gives a new row the largest id + 1,
-- the id of the deleted project if it was the newest. AUTOINCREMENT can
-- only be had by rebuilding the table (the runner turns foreign keys off
-- around a migration, so dropping the old table leaves project_members
-- alone, and checks them before commit).
CREATE TABLE projects_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    public     INTEGER NOT NULL DEFAULT 0,
    owner_id   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO projects_new (id, name, public, owner_id, created_at, updated_at)
    SELECT id, name, public, owner_id, created_at, updated_at FROM projects;
DROP TABLE projects;
ALTER TABLE projects_new RENAME TO projects;

-- audit_log.project stays, as the name shown; project_id is what a
-- project's log is filtered by. Existing records go to the project of
-- their name only if it already existed when they were written (a record
-- older than the project belongs to a deleted namesake): 0, no project.
ALTER TABLE audit_log ADD COLUMN project_id INTEGER NOT NULL DEFAULT 0;
UPDATE audit_log SET project_id = COALESCE((SELECT p.id FROM projects p
    WHERE p.name = audit_log.project AND p.created_at <= audit_log.at), 0)
    WHERE project <> '';
DROP INDEX audit_log_by_project;
CREATE INDEX audit_log_by_project ON audit_log (project_id, at);

-- Robot permissions (JSON [{"Project": name, "Actions": […]}]) get the
-- project's id, "ProjectID"; "*" (every project) keeps 0. A name is
-- resolved only to a project older than the robot (else it names a
-- deleted namesake): 0, which grants nothing.
UPDATE robots SET permissions = (
    SELECT json_group_array(json_set(e.value, '$.ProjectID',
        CASE WHEN json_extract(e.value, '$.Project') = '*' THEN 0
        ELSE COALESCE((SELECT p.id FROM projects p
            WHERE p.name = json_extract(e.value, '$.Project') AND p.created_at <= robots.created_at), 0) END))
    FROM json_each(robots.permissions) e)
WHERE json_valid(permissions) AND json_type(permissions) = 'array' AND json_array_length(permissions) > 0;
