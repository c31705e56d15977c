-- Claims are fair between the vendors (projects, policies) of a kind:
-- the next execution is the oldest of the vendor served least recently,
-- which Claim finds by the latest started_at of each vendor.
CREATE INDEX job_executions_by_vendor_started ON job_executions (kind, vendor_id, started_at);
