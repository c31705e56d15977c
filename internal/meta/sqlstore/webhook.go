package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.WebhookStore = (*Store)(nil)

const webhookPolicyColumns = `id, project_id, name, description, enabled, policy, secret, creator, created_at, updated_at`

func scanWebhookPolicy(sc interface{ Scan(...any) error }) (*meta.WebhookPolicy, error) {
	var p meta.WebhookPolicy
	var enabled int
	var created, updated int64
	if err := sc.Scan(&p.ID, &p.ProjectID, &p.Name, &p.Description, &enabled, &p.Policy, &p.Secret, &p.Creator,
		&created, &updated); err != nil {
		return nil, err
	}
	p.Enabled, p.CreatedAt, p.UpdatedAt = enabled != 0, ms2t(created), ms2t(updated)
	return &p, nil
}

// CreateWebhookPolicy implements meta.WebhookStore.
func (s *Store) CreateWebhookPolicy(ctx context.Context, p *meta.WebhookPolicy) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		// The project row is read under a share lock: a concurrent delete
		// of the project waits for the policy, then removes it too.
		var pid int64
		if err := tx.queryRow(ctx, tx.forShare(`SELECT id FROM projects WHERE id = ?`), p.ProjectID).Scan(&pid); err != nil {
			return notFound(err)
		}
		t := now()
		err := tx.queryRow(ctx, `INSERT INTO webhook_policies (project_id, name, description, enabled, policy, secret, creator,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			p.ProjectID, p.Name, p.Description, b2i(p.Enabled), p.Policy, p.Secret, p.Creator, t, t).Scan(&p.ID)
		if isUniqueViolation(err) {
			return meta.ErrConflict
		}
		p.CreatedAt, p.UpdatedAt = ms2t(t), ms2t(t)
		return err
	})
}

// WebhookPolicy implements meta.WebhookStore.
func (s *Store) WebhookPolicy(ctx context.Context, id int64) (_ *meta.WebhookPolicy, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	p, err := scanWebhookPolicy(s.queryRow(ctx, `SELECT `+webhookPolicyColumns+` FROM webhook_policies WHERE id = ?`, id))
	return p, notFound(err)
}

var webhookPolicyListing = listing{
	"id":            {expr: "id", kind: intValue},
	"name":          {expr: "name"},
	"enabled":       {expr: "enabled", kind: boolValue},
	"creation_time": {expr: "created_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
}

// WebhookPolicies implements meta.WebhookStore.
func (s *Store) WebhookPolicies(ctx context.Context, projectID int64, q meta.ListQuery) (_ []meta.WebhookPolicy, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(webhookPolicyListing, q, []string{"project_id = ?"}, []any{projectID})
	if err != nil {
		return nil, 0, err
	}
	order, err := webhookPolicyListing.orderBy(q, "id ASC")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM webhook_policies WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	out := []meta.WebhookPolicy{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		p, err := scanWebhookPolicy(rows)
		if err == nil {
			out = append(out, *p)
		}
		return err
	}, `SELECT `+webhookPolicyColumns+` FROM webhook_policies WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	return out, total, err
}

// ProjectWebhookPolicies implements meta.WebhookStore.
func (s *Store) ProjectWebhookPolicies(ctx context.Context, project string) (_ []meta.WebhookPolicy, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var out []meta.WebhookPolicy
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		p, err := scanWebhookPolicy(rows)
		if err == nil {
			out = append(out, *p)
		}
		return err
	}, `SELECT w.id, w.project_id, w.name, w.description, w.enabled, w.policy, w.secret, w.creator, w.created_at, w.updated_at
		FROM webhook_policies w JOIN projects p ON p.id = w.project_id WHERE p.name = ? AND w.enabled = 1 ORDER BY w.id`, project)
	return out, err
}

// WebhookEventInUse implements meta.WebhookStore. The event types are in
// the policy's JSON: a match of the quoted name is enough, as no other
// string there is an event type's name in quotes.
func (s *Store) WebhookEventInUse(ctx context.Context, eventType string) (_ bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var n int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM webhook_policies WHERE enabled = 1 AND policy LIKE ?`, `%"`+eventType+`"%`).Scan(&n)
	return n > 0, err
}

// UpdateWebhookPolicy implements meta.WebhookStore.
func (s *Store) UpdateWebhookPolicy(ctx context.Context, p *meta.WebhookPolicy) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		var created int64
		err := tx.queryRow(ctx, `UPDATE webhook_policies SET name = ?, description = ?, enabled = ?, policy = ?,
			secret = CASE WHEN ? = '' THEN secret ELSE ? END, updated_at = ?
			WHERE id = ? RETURNING project_id, secret, creator, created_at`, p.Name, p.Description, b2i(p.Enabled), p.Policy,
			p.Secret, p.Secret, t, p.ID).
			Scan(&p.ProjectID, &p.Secret, &p.Creator, &created)
		if isUniqueViolation(err) {
			return meta.ErrConflict
		}
		if err != nil {
			return notFound(err)
		}
		p.CreatedAt, p.UpdatedAt = ms2t(created), ms2t(t)
		return nil
	})
}

// DeleteWebhookPolicy implements meta.WebhookStore.
func (s *Store) DeleteWebhookPolicy(ctx context.Context, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return notFound(affected(s.exec(ctx, `DELETE FROM webhook_policies WHERE id = ?`, id)))
}

// AddWebhookExecutions implements meta.WebhookStore.
func (s *Store) AddWebhookExecutions(ctx context.Context, es []*meta.WebhookExecution) error {
	if len(es) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		for _, e := range es {
			// INSERT ... SELECT: nothing when the policy is gone.
			err := tx.queryRow(ctx, `INSERT INTO webhook_executions (policy_id, event_type, status, triggered_by, payload,
				created_at, updated_at, ended_at) SELECT id, ?, 'Pending', ?, ?, ?, ?, 0 FROM webhook_policies WHERE id = ?
				RETURNING id`, e.EventType, e.Trigger, e.Payload, t, t, e.PolicyID).Scan(&e.ID)
			if errors.Is(err, sql.ErrNoRows) {
				e.ID = 0
				continue
			}
			if err != nil {
				return err
			}
			e.Status, e.CreatedAt, e.UpdatedAt = meta.JobPending, ms2t(t), ms2t(t)
			for i := range e.Tasks {
				task := &e.Tasks[i]
				if err := tx.queryRow(ctx, `INSERT INTO webhook_tasks (execution_id, target, order_key, status, status_message,
					run_count, last_code, next_at, holder, lease_until, log, created_at, started_at, ended_at, updated_at)
					VALUES (?, ?, ?, 'Pending', '', 0, 0, ?, '', 0, '', ?, 0, 0, ?) RETURNING id`,
					e.ID, task.Target, task.OrderKey, t, t, t).Scan(&task.ID); err != nil {
					return err
				}
				task.ExecutionID, task.Status, task.NextAt, task.CreatedAt, task.UpdatedAt = e.ID, meta.JobPending, ms2t(t), ms2t(t), ms2t(t)
				task.PolicyID, task.EventType, task.Trigger = e.PolicyID, e.EventType, e.Trigger
			}
		}
		return nil
	})
}

const webhookTaskColumns = `t.id, t.execution_id, t.target, t.order_key, t.status, t.status_message, t.run_count, t.last_code,
	t.next_at, t.holder, t.lease_until, t.created_at, t.started_at, t.ended_at, t.updated_at, e.policy_id, e.event_type, e.triggered_by`

func scanWebhookTask(sc interface{ Scan(...any) error }) (*meta.WebhookTask, error) {
	var k meta.WebhookTask
	var next, lease, created, started, ended, updated int64
	if err := sc.Scan(&k.ID, &k.ExecutionID, &k.Target, &k.OrderKey, &k.Status, &k.StatusMessage, &k.RunCount, &k.LastCode,
		&next, &k.Holder, &lease, &created, &started, &ended, &updated, &k.PolicyID, &k.EventType, &k.Trigger); err != nil {
		return nil, err
	}
	k.NextAt, k.LeaseUntil, k.CreatedAt = ms2t(next), ms2t(lease), ms2t(created)
	k.StartedAt, k.EndedAt, k.UpdatedAt = ms2t(started), ms2t(ended), ms2t(updated)
	return &k, nil
}

// ClaimWebhookTasks implements meta.WebhookStore: pick due candidates,
// then take each with an UPDATE that re-checks it is still claimable, so
// that of two replicas picking the same task only one gets it.
func (s *Store) ClaimWebhookTasks(ctx context.Context, holder string, ttl time.Duration, limit int) (_ []meta.WebhookTask, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	var ids []int64
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		ids = append(ids, id)
		return err
	}, `SELECT t.id FROM webhook_tasks t WHERE t.status IN ('Pending', 'Running') AND t.next_at <= ?
		AND (t.status = 'Pending' OR t.lease_until < ?)
		AND NOT EXISTS (SELECT 1 FROM webhook_tasks o WHERE o.order_key = t.order_key AND o.id < t.id
			AND o.status IN ('Pending', 'Running'))
		ORDER BY t.next_at, t.id LIMIT ?`, t, t, limit)
	if err != nil {
		return nil, err
	}
	var out []meta.WebhookTask
	for _, id := range ids {
		res, err := s.exec(ctx, `UPDATE webhook_tasks SET status = 'Running', holder = ?, lease_until = ?,
			started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END, updated_at = ?
			WHERE id = ? AND ((status = 'Pending' AND next_at <= ?) OR (status = 'Running' AND lease_until < ?))`,
			holder, t+ttl.Milliseconds(), t, t, id, t, t)
		if err != nil {
			return out, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return out, err
		} else if n == 0 {
			continue // another replica took it
		}
		if _, err := s.exec(ctx, `UPDATE webhook_executions SET status = 'Running', updated_at = ?
			WHERE id = (SELECT execution_id FROM webhook_tasks WHERE id = ?) AND status = 'Pending'`, t, id); err != nil {
			return out, err
		}
		k, err := scanWebhookTask(s.w.QueryRowContext(ctx, s.b.bind(`SELECT `+webhookTaskColumns+`
			FROM webhook_tasks t JOIN webhook_executions e ON e.id = t.execution_id WHERE t.id = ?`), id))
		if err != nil {
			return out, err
		}
		out = append(out, *k)
	}
	return out, nil
}

// FinishWebhookAttempt implements meta.WebhookStore.
func (s *Store) FinishWebhookAttempt(ctx context.Context, id int64, holder string, a meta.WebhookAttempt) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		ended, next := int64(0), t2ms(a.NextAt)
		if a.Status != meta.JobPending {
			ended = t
		}
		var execution int64
		err := tx.queryRow(ctx, `UPDATE webhook_tasks SET status = ?, status_message = ?, last_code = ?, run_count = run_count + 1,
			next_at = ?, holder = '', lease_until = 0, ended_at = ?, updated_at = ?,
			log = CASE WHEN LENGTH(log) < ? THEN log || ? ELSE log END
			WHERE id = ? AND holder = ? AND status = 'Running' RETURNING execution_id`,
			a.Status, a.Message, a.Code, next, ended, t, meta.MaxWebhookLog, a.Log, id, holder).Scan(&execution)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrLeaseLost
		}
		if err != nil || ended == 0 {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE webhook_executions SET updated_at = ?, ended_at = ?,
			status = CASE WHEN EXISTS (SELECT 1 FROM webhook_tasks WHERE execution_id = ? AND status = 'Error')
				THEN 'Error' ELSE 'Success' END
			WHERE id = ? AND NOT EXISTS (SELECT 1 FROM webhook_tasks WHERE execution_id = ? AND status IN ('Pending', 'Running'))`,
			t, t, execution, execution, execution)
		return err
	})
}

// ReleaseWebhookTasks implements meta.WebhookStore.
func (s *Store) ReleaseWebhookTasks(ctx context.Context, holder string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	_, err = s.exec(ctx, `UPDATE webhook_tasks SET status = 'Pending', holder = '', lease_until = 0, updated_at = ?
		WHERE holder = ? AND status = 'Running'`, now(), holder)
	return err
}

// PruneWebhookExecutions implements meta.WebhookStore.
func (s *Store) PruneWebhookExecutions(ctx context.Context, before time.Time, limit int) (_ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	res, err := s.exec(ctx, `DELETE FROM webhook_executions WHERE id IN (SELECT id FROM webhook_executions
		WHERE ended_at > 0 AND ended_at < ? ORDER BY ended_at LIMIT ?)`, t2ms(before), limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

const webhookExecutionColumns = `id, policy_id, event_type, status, triggered_by, payload, created_at, updated_at, ended_at`

func scanWebhookExecution(sc interface{ Scan(...any) error }) (*meta.WebhookExecution, error) {
	var e meta.WebhookExecution
	var created, updated, ended int64
	if err := sc.Scan(&e.ID, &e.PolicyID, &e.EventType, &e.Status, &e.Trigger, &e.Payload, &created, &updated, &ended); err != nil {
		return nil, err
	}
	e.CreatedAt, e.UpdatedAt, e.EndedAt = ms2t(created), ms2t(updated), ms2t(ended)
	return &e, nil
}

// WebhookExecution implements meta.WebhookStore.
func (s *Store) WebhookExecution(ctx context.Context, id int64) (_ *meta.WebhookExecution, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	e, err := scanWebhookExecution(s.queryRow(ctx, `SELECT `+webhookExecutionColumns+` FROM webhook_executions WHERE id = ?`, id))
	return e, notFound(err)
}

var webhookExecutionListing = listing{
	"id":            {expr: "id", kind: intValue},
	"status":        {expr: "status"},
	"trigger":       {expr: "triggered_by"},
	"event_type":    {expr: "event_type"},
	"creation_time": {expr: "created_at", kind: timeValue},
	"start_time":    {expr: "created_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
	"end_time":      {expr: "ended_at", kind: timeValue},
}

// WebhookExecutions implements meta.WebhookStore.
func (s *Store) WebhookExecutions(ctx context.Context, policyID int64, q meta.ListQuery) (_ []meta.WebhookExecution, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(webhookExecutionListing, q, []string{"policy_id = ?"}, []any{policyID})
	if err != nil {
		return nil, 0, err
	}
	order, err := webhookExecutionListing.orderBy(q, "id DESC")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM webhook_executions WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	out := []meta.WebhookExecution{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		e, err := scanWebhookExecution(rows)
		if err == nil {
			out = append(out, *e)
		}
		return err
	}, `SELECT `+webhookExecutionColumns+` FROM webhook_executions WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	return out, total, err
}

// WebhookTask implements meta.WebhookStore.
func (s *Store) WebhookTask(ctx context.Context, id int64) (_ *meta.WebhookTask, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	k, err := scanWebhookTask(s.queryRow(ctx, `SELECT `+webhookTaskColumns+`
		FROM webhook_tasks t JOIN webhook_executions e ON e.id = t.execution_id WHERE t.id = ?`, id))
	return k, notFound(err)
}

var webhookTaskListing = listing{
	"id":            {expr: "t.id", kind: intValue},
	"status":        {expr: "t.status"},
	"creation_time": {expr: "t.created_at", kind: timeValue},
	"start_time":    {expr: "t.started_at", kind: timeValue},
	"end_time":      {expr: "t.ended_at", kind: timeValue},
	"update_time":   {expr: "t.updated_at", kind: timeValue},
}

// WebhookTasks implements meta.WebhookStore.
func (s *Store) WebhookTasks(ctx context.Context, executionID int64, q meta.ListQuery) (_ []meta.WebhookTask, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(webhookTaskListing, q, []string{"t.execution_id = ?"}, []any{executionID})
	if err != nil {
		return nil, 0, err
	}
	order, err := webhookTaskListing.orderBy(q, "t.id ASC")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM webhook_tasks t WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	out := []meta.WebhookTask{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		k, err := scanWebhookTask(rows)
		if err == nil {
			out = append(out, *k)
		}
		return err
	}, `SELECT `+webhookTaskColumns+` FROM webhook_tasks t JOIN webhook_executions e ON e.id = t.execution_id
		WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	return out, total, err
}

var webhookJobListing = listing{
	"id":            {expr: "t.id", kind: intValue},
	"status":        {expr: "t.status"},
	"event_type":    {expr: "e.event_type"},
	"creation_time": {expr: "t.created_at", kind: timeValue},
	"update_time":   {expr: "t.updated_at", kind: timeValue},
}

// WebhookJobs implements meta.WebhookStore.
func (s *Store) WebhookJobs(ctx context.Context, policyID int64, q meta.ListQuery) (_ []meta.WebhookJob, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(webhookJobListing, q, []string{"e.policy_id = ?"}, []any{policyID})
	if err != nil {
		return nil, 0, err
	}
	order, err := webhookJobListing.orderBy(q, "t.id DESC")
	if err != nil {
		return nil, 0, err
	}
	const from = ` FROM webhook_tasks t JOIN webhook_executions e ON e.id = t.execution_id WHERE `
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*)`+from+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	out := []meta.WebhookJob{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var j meta.WebhookJob
		var next, lease, created, started, ended, updated int64
		k := &j.WebhookTask
		if err := rows.Scan(&k.ID, &k.ExecutionID, &k.Target, &k.OrderKey, &k.Status, &k.StatusMessage, &k.RunCount, &k.LastCode,
			&next, &k.Holder, &lease, &created, &started, &ended, &updated, &k.PolicyID, &k.EventType, &k.Trigger, &j.Payload); err != nil {
			return err
		}
		k.NextAt, k.LeaseUntil, k.CreatedAt = ms2t(next), ms2t(lease), ms2t(created)
		k.StartedAt, k.EndedAt, k.UpdatedAt = ms2t(started), ms2t(ended), ms2t(updated)
		out = append(out, j)
		return nil
	}, `SELECT `+webhookTaskColumns+`, e.payload`+from+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	return out, total, err
}

// WebhookTaskLog implements meta.WebhookStore.
func (s *Store) WebhookTaskLog(ctx context.Context, id int64) (_ string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var log string
	err = s.queryRow(ctx, `SELECT log FROM webhook_tasks WHERE id = ?`, id).Scan(&log)
	return log, notFound(err)
}

// WebhookLastTriggers implements meta.WebhookStore.
func (s *Store) WebhookLastTriggers(ctx context.Context, projectID int64) (_ []meta.WebhookLastTrigger, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	out := []meta.WebhookLastTrigger{}
	err = s.eachRow(ctx, func(rows *sql.Rows) error {
		var l meta.WebhookLastTrigger
		var at int64
		err := rows.Scan(&l.PolicyID, &l.EventType, &at)
		l.At = ms2t(at)
		out = append(out, l)
		return err
	}, `SELECT e.policy_id, e.event_type, MAX(e.created_at) FROM webhook_executions e
		JOIN webhook_policies w ON w.id = e.policy_id WHERE w.project_id = ? GROUP BY e.policy_id, e.event_type
		ORDER BY e.policy_id, e.event_type`, projectID)
	return out, err
}
