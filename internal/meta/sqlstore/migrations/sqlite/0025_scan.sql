-- Vulnerability scanning (internal/scan). Everything is keyed by manifest
-- digest: the same digest in several repositories is scanned once.
--
-- A digest's package list as the cataloguer made it (JSON), so a new
-- vulnerability database is matched again without reading any layer.
CREATE TABLE scan_catalogues (
    digest     TEXT PRIMARY KEY,
    analyzer   INTEGER NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The layers of a catalogued image, in order: base-image lineage is the
-- image whose layers are the longest proper prefix of another's.
CREATE TABLE scan_layers (
    digest   TEXT NOT NULL,
    position INTEGER NOT NULL,
    layer    TEXT NOT NULL,
    PRIMARY KEY (digest, position)
) WITHOUT ROWID;
CREATE INDEX scan_layers_by_layer ON scan_layers (layer, position);

-- A digest's vulnerability report: status is the current scan's; the
-- result columns are the last successful match's (has_result), kept
-- while a new scan runs. findings > 0 rows feed the security hub.
CREATE TABLE scan_reports (
    digest       TEXT PRIMARY KEY,
    report_id    TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL,
    execution_id INTEGER NOT NULL DEFAULT 0,
    has_result   INTEGER NOT NULL DEFAULT 0,
    vulndb       TEXT NOT NULL DEFAULT '',
    severity     TEXT NOT NULL DEFAULT '',
    total        INTEGER NOT NULL DEFAULT 0,
    fixable      INTEGER NOT NULL DEFAULT 0,
    summary      TEXT NOT NULL DEFAULT '{}',
    findings     TEXT NOT NULL DEFAULT '[]',
    start_time   INTEGER NOT NULL DEFAULT 0,
    end_time     INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX scan_reports_vulnerable ON scan_reports (digest) WHERE total > 0;

-- A digest's SBOM generation and the accessory it produced.
CREATE TABLE scan_sboms (
    digest      TEXT PRIMARY KEY,
    report_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    sbom_digest TEXT NOT NULL DEFAULT '',
    repo        TEXT NOT NULL DEFAULT '',
    start_time  INTEGER NOT NULL DEFAULT 0,
    end_time    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The vulnerability database every replica uses (one row, id 1).
CREATE TABLE scan_vulndb (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    digest      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    imported_at INTEGER NOT NULL
);

-- The system CVE allowlist (one row, id 1); items is a JSON array of CVE
-- ids, expires_at seconds since the epoch or NULL for never.
CREATE TABLE scan_system_allowlist (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    expires_at INTEGER,
    items      TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
