-- Name searches are case-insensitive (ASCII letters, the same on both
-- databases). SQLite's LIKE folds ASCII case itself, and can use an index
-- for a pattern without a leading wildcard only if the index is NOCASE.
CREATE INDEX users_by_username_nocase ON users (username COLLATE NOCASE);
CREATE INDEX projects_by_name_nocase ON projects (name COLLATE NOCASE);
