-- An SBOM is an accessory pushed to one repository: its state is kept per
-- digest and repository (the same image in two repositories has two).
ALTER TABLE scan_sboms DROP CONSTRAINT scan_sboms_pkey;
ALTER TABLE scan_sboms ADD PRIMARY KEY (digest, repo);
