-- System settings changed through the API (Harbor's /configurations): one
-- row per setting, the value as JSON. Every replica reads the table every
-- few seconds into memory; request paths never query it.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
