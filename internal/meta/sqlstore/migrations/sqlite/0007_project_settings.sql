-- Project settings beyond the projects row, each going with its project
-- when it is deleted (ON DELETE CASCADE).

-- Harbor's project metadata (auto_scan, severity, ...): string values, one
-- row per key set. "public" is not here: it is projects.public.
CREATE TABLE project_metadata (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- A project's CVE allowlist: items is a JSON array of CVE ids;
-- expires_at is in seconds since the epoch, NULL for never.
CREATE TABLE project_cve_allowlists (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    expires_at INTEGER,
    items      TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A project's storage limit in bytes (-1: unlimited). A project without a
-- row has none.
CREATE TABLE project_quotas (
    project_id    INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    storage_limit INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
