-- Background jobs (internal/jobs): executions leased by one replica at a
-- time, their tasks and logs, and the schedules that enqueue them.
-- Times are Unix milliseconds, 0 for "not yet".
CREATE TABLE job_executions (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    vendor_id      INTEGER NOT NULL DEFAULT 0,
    triggered_by   TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    params         TEXT NOT NULL DEFAULT '',
    result         TEXT NOT NULL DEFAULT '',
    dry_run        INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER NOT NULL DEFAULT 0,
    ended_at       INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL,
    holder         TEXT NOT NULL DEFAULT '',
    lease_until    INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    -- "kind:vendor_id" while an exclusive execution is Pending or Running,
    -- NULL otherwise: the unique index allows one active per kind+vendor.
    active_key     TEXT UNIQUE
);
CREATE INDEX job_executions_by_vendor ON job_executions (kind, vendor_id, id);
CREATE INDEX job_executions_claimable ON job_executions (status, id);

CREATE TABLE job_tasks (
    id             INTEGER PRIMARY KEY,
    execution_id   INTEGER NOT NULL REFERENCES job_executions (id) ON DELETE CASCADE,
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    run_count      INTEGER NOT NULL DEFAULT 0,
    extra_attrs    TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    started_at     INTEGER NOT NULL DEFAULT 0,
    ended_at       INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX job_tasks_by_execution ON job_tasks (execution_id, id);

-- A log is its chunks in id order; size is each chunk's length in bytes.
CREATE TABLE job_logs (
    id         INTEGER PRIMARY KEY,
    owner_kind TEXT NOT NULL,
    owner_id   INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    text       TEXT NOT NULL
);
CREATE INDEX job_logs_by_owner ON job_logs (owner_kind, owner_id, id);

CREATE TABLE job_schedules (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    vendor_id  INTEGER NOT NULL DEFAULT 0,
    type       TEXT NOT NULL,
    cron       TEXT NOT NULL,
    params     TEXT NOT NULL DEFAULT '',
    dry_run    INTEGER NOT NULL DEFAULT 0,
    jitter_ms  INTEGER NOT NULL DEFAULT 0,
    next_run   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX job_schedules_due ON job_schedules (next_run);
