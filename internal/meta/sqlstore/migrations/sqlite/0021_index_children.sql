-- An index's children in a repository, found by a range of this partial
-- index (the count of top-level artifacts, sqlstore topLevelCount) instead
-- of a scan of every reference of the repository. Partial, so that queries
-- on a manifest's blobs (kind = 0) keep the primary key: a full
-- (repo, kind, ref) index ties with it in SQLite's planner, which then
-- scans every blob reference of the repository per manifest.
CREATE INDEX manifest_refs_index_children ON manifest_refs (repo, ref) WHERE kind = 1;
