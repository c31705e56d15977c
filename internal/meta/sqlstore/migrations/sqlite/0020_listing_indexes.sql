-- Indexes the artifact and repository listings need in a large repository.
-- manifest_refs (repo, ref, kind): the listings' "not the child of an
-- index" condition (notIndexChild) looks a manifest up among the refs of
-- its repository by digest and kind; with only (repo, ref) or the primary
-- key (repo, manifest, ref) SQLite, without planner statistics, searched a
-- repository's refs by repository alone for every manifest: quadratic
-- (2,000 artifacts listed in seconds, 10,000 in minutes).
CREATE INDEX manifest_refs_by_ref_kind ON manifest_refs (repo, ref, kind);
-- manifests (repo, created_at): newest-first paging and the latest push
-- read in index order instead of every manifest row, bodies included.
CREATE INDEX manifests_by_created ON manifests (repo, created_at);
