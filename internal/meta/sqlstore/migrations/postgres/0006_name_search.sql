-- Name searches are case-insensitive (ASCII letters, the same on both
-- databases): PostgreSQL's LIKE is not, so searches compare lower(name)
-- (ASCII folding under the names' "C" collation) with a lowered pattern;
-- these indexes serve such a pattern without a leading wildcard.
CREATE INDEX users_by_lower_username ON users (lower(username) text_pattern_ops);
CREATE INDEX projects_by_lower_name ON projects (lower(name) text_pattern_ops);
