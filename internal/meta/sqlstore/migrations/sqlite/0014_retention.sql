-- Tag retention policies (internal/retention): at most one per project,
-- going with it. policy is the policy's JSON text. The project's
-- retention_id metadata row names it; both are written and removed in
-- one transaction.
CREATE TABLE retention_policies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    policy     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
