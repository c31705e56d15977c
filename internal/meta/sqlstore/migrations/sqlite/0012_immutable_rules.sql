-- Tag immutability rules (Harbor's immutable_tag_rule), going with their
-- project when it is deleted. The selectors and params are kept as JSON,
-- as given; selector_key is a digest of the selectors (kind, decoration and
-- pattern of each), so a project cannot hold two rules that protect the
-- same tags (Harbor: UNIQUE (project_id, tag_filter)).
CREATE TABLE immutable_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id      INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    priority        INTEGER NOT NULL DEFAULT 0,
    disabled        INTEGER NOT NULL DEFAULT 0,
    action          TEXT NOT NULL,
    template        TEXT NOT NULL,
    params          TEXT,
    tag_selectors   TEXT NOT NULL,
    scope_selectors TEXT NOT NULL,
    selector_key    TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (project_id, selector_key)
);
