-- An SBOM is an accessory pushed to one repository: its state is kept per
-- digest and repository (the same image in two repositories has two),
-- with the media type of its document (every SBOM made before was
-- CycloneDX).
CREATE TABLE scan_sboms_by_repo (
    digest      TEXT NOT NULL,
    repo        TEXT NOT NULL,
    report_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    sbom_digest TEXT NOT NULL DEFAULT '',
    media_type  TEXT NOT NULL DEFAULT '',
    start_time  INTEGER NOT NULL DEFAULT 0,
    end_time    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (digest, repo)
) WITHOUT ROWID;
INSERT INTO scan_sboms_by_repo (digest, repo, report_id, status, sbom_digest, media_type, start_time, end_time)
    SELECT digest, repo, report_id, status, sbom_digest,
           CASE WHEN sbom_digest <> '' THEN 'application/vnd.cyclonedx+json' ELSE '' END, start_time, end_time
    FROM scan_sboms;
DROP TABLE scan_sboms;
ALTER TABLE scan_sboms_by_repo RENAME TO scan_sboms;
