-- Webhooks (internal/webhook). A policy's event types, targets and
-- filters are the webhook package's JSON (policy); secret is the sealed
-- signing key of its deliveries.
CREATE TABLE webhook_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    policy      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    creator     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (project_id, name)
);

-- One execution per event a policy matched (Harbor's Execution): payload
-- is the event as the webhook package renders it.
CREATE TABLE webhook_executions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id    INTEGER NOT NULL REFERENCES webhook_policies (id) ON DELETE CASCADE,
    event_type   TEXT NOT NULL,
    status       TEXT NOT NULL,
    triggered_by TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL
);
CREATE INDEX webhook_executions_policy ON webhook_executions (policy_id, id);
CREATE INDEX webhook_executions_ended ON webhook_executions (ended_at) WHERE ended_at > 0;

-- One task per target of an execution: the delivery, leased by one
-- replica at a time (holder, lease_until), retried at next_at. Tasks of
-- one order_key (policy, target, artifact) are delivered in id order.
CREATE TABLE webhook_tasks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id   INTEGER NOT NULL REFERENCES webhook_executions (id) ON DELETE CASCADE,
    target         INTEGER NOT NULL,
    order_key      TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL,
    run_count      INTEGER NOT NULL,
    last_code      INTEGER NOT NULL,
    next_at        INTEGER NOT NULL,
    holder         TEXT NOT NULL,
    lease_until    INTEGER NOT NULL,
    log            TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX webhook_tasks_execution ON webhook_tasks (execution_id, id);
CREATE INDEX webhook_tasks_due ON webhook_tasks (next_at, id) WHERE status IN ('Pending', 'Running');
CREATE INDEX webhook_tasks_order ON webhook_tasks (order_key, id) WHERE status IN ('Pending', 'Running');
