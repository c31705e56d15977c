-- The schema of migrations/sqlite/0025_scan.sql in PostgreSQL's types:
-- scanning's package lists, reports, SBOMs, active database and system
-- CVE allowlist.
CREATE TABLE scan_catalogues (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    analyzer   INTEGER NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE scan_layers (
    digest   TEXT COLLATE "C" NOT NULL,
    position INTEGER NOT NULL,
    layer    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (digest, position)
);
CREATE INDEX scan_layers_by_layer ON scan_layers (layer, position);

CREATE TABLE scan_reports (
    digest       TEXT COLLATE "C" PRIMARY KEY,
    report_id    TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL,
    execution_id BIGINT NOT NULL DEFAULT 0,
    has_result   INTEGER NOT NULL DEFAULT 0,
    vulndb       TEXT NOT NULL DEFAULT '',
    severity     TEXT NOT NULL DEFAULT '',
    total        INTEGER NOT NULL DEFAULT 0,
    fixable      INTEGER NOT NULL DEFAULT 0,
    summary      TEXT NOT NULL DEFAULT '{}',
    findings     TEXT NOT NULL DEFAULT '[]',
    start_time   BIGINT NOT NULL DEFAULT 0,
    end_time     BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX scan_reports_vulnerable ON scan_reports (digest) WHERE total > 0;

CREATE TABLE scan_sboms (
    digest      TEXT COLLATE "C" PRIMARY KEY,
    report_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    sbom_digest TEXT NOT NULL DEFAULT '',
    repo        TEXT NOT NULL DEFAULT '',
    start_time  BIGINT NOT NULL DEFAULT 0,
    end_time    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE scan_vulndb (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    digest      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    imported_at BIGINT NOT NULL
);

CREATE TABLE scan_system_allowlist (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    expires_at BIGINT,
    items      TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
