-- An SBOM is an accessory pushed to one repository: its state is kept per
-- digest and repository (the same image in two repositories has two),
-- with the media type of its document (every SBOM made before was
-- CycloneDX).
ALTER TABLE scan_sboms DROP CONSTRAINT scan_sboms_pkey;
ALTER TABLE scan_sboms ADD PRIMARY KEY (digest, repo);
ALTER TABLE scan_sboms ADD COLUMN media_type TEXT NOT NULL DEFAULT '';
UPDATE scan_sboms SET media_type = 'application/vnd.cyclonedx+json' WHERE sbom_digest <> '';
