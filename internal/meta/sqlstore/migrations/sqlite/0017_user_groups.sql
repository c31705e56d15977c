-- User groups (Harbor's user_group): LDAP groups by DN, HTTP and OIDC
-- groups by name. group_key is what identifies a group among those of its
-- type, in lower case (the DN of an LDAP group, else the name).
CREATE TABLE user_groups (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    group_type    INTEGER NOT NULL,
    ldap_group_dn TEXT NOT NULL DEFAULT '',
    group_key     TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (group_type, group_key)
);

-- Groups as project members (Harbor's project_member with entity_type
-- 'g'), going with their project or group.
CREATE TABLE project_group_members (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    group_id   INTEGER NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    role       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, group_id)
);
CREATE INDEX project_group_members_by_group ON project_group_members (group_id);
