-- The schema change of migrations/sqlite/0005_project_ids.sql. Identity
-- columns never reuse an id, so projects stay as they are.

ALTER TABLE audit_log ADD COLUMN project_id BIGINT NOT NULL DEFAULT 0;
UPDATE audit_log SET project_id = COALESCE((SELECT p.id FROM projects p
    WHERE p.name = audit_log.project AND p.created_at <= audit_log.at), 0)
    WHERE project <> '';
DROP INDEX audit_log_by_project;
CREATE INDEX audit_log_by_project ON audit_log (project_id, at);

UPDATE robots r SET permissions = COALESCE((
    SELECT jsonb_agg(e.value || jsonb_build_object('ProjectID',
        CASE WHEN e.value->>'Project' = '*' THEN 0
        ELSE COALESCE((SELECT p.id FROM projects p
            WHERE p.name = e.value->>'Project' AND p.created_at <= r.created_at), 0) END)
        ORDER BY e.n)
    FROM jsonb_array_elements(r.permissions::jsonb) WITH ORDINALITY AS e(value, n)), '[]'::jsonb)::text
WHERE jsonb_typeof(r.permissions::jsonb) = 'array';
