package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.JobStore = (*Store)(nil)

const executionColumns = `id, kind, vendor_id, triggered_by, status, status_message, params, result, dry_run,
	created_at, started_at, ended_at, updated_at, holder, lease_until, attempts, stop_requested`

func scanExecution(sc interface{ Scan(...any) error }) (*meta.Execution, error) {
	var e meta.Execution
	var dry, stop int
	var created, started, ended, updated, lease int64
	if err := sc.Scan(&e.ID, &e.Kind, &e.VendorID, &e.Trigger, &e.Status, &e.StatusMessage, &e.Params, &e.Result, &dry,
		&created, &started, &ended, &updated, &e.Holder, &lease, &e.Attempts, &stop); err != nil {
		return nil, err
	}
	e.DryRun, e.StopRequested = dry != 0, stop != 0
	e.CreatedAt, e.StartedAt, e.EndedAt, e.UpdatedAt, e.LeaseUntil = ms2t(created), ms2t(started), ms2t(ended), ms2t(updated), ms2t(lease)
	return &e, nil
}

// activeKey is the value of active_key for an exclusive execution: its
// unique index allows one active execution per kind and vendor.
func activeKey(e *meta.Execution, exclusive bool) any {
	if !exclusive {
		return nil
	}
	return fmt.Sprintf("%s:%d", e.Kind, e.VendorID)
}

// insertExecution inserts e as Pending; with exclusive, nothing is
// inserted (and e.ID stays 0) while another is active.
func insertExecution(ctx context.Context, q func(context.Context, string, ...any) *sql.Row, e *meta.Execution, exclusive bool) error {
	t := now()
	err := q(ctx, `INSERT INTO job_executions (kind, vendor_id, triggered_by, status, params, dry_run, created_at, updated_at, active_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		e.Kind, e.VendorID, e.Trigger, meta.JobPending, e.Params, b2i(e.DryRun), t, t, activeKey(e, exclusive)).Scan(&e.ID)
	if errors.Is(err, sql.ErrNoRows) {
		e.ID = 0
		return nil
	}
	if err != nil {
		return err
	}
	e.Status, e.StatusMessage, e.Result, e.Holder, e.Attempts, e.StopRequested = meta.JobPending, "", "", "", 0, false
	e.CreatedAt, e.UpdatedAt = ms2t(t), ms2t(t)
	e.StartedAt, e.EndedAt, e.LeaseUntil = time.Time{}, time.Time{}, time.Time{}
	return nil
}

// Enqueue implements meta.JobStore.
func (s *Store) Enqueue(ctx context.Context, e *meta.Execution, exclusive bool) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	write := func(ctx context.Context, q string, args ...any) *sql.Row {
		return s.w.QueryRowContext(ctx, s.b.bind(q), args...)
	}
	if err := insertExecution(ctx, write, e, exclusive); err != nil {
		return err
	}
	if e.ID == 0 {
		return meta.ErrConflict
	}
	return nil
}

// maxClaimRaces bounds how often Claim tries another candidate after
// other replicas took (or finished) the ones it picked.
const maxClaimRaces = 16

// Claim implements meta.JobStore: pick a candidate (fairly between
// vendors, in order within one), then take it with an UPDATE that
// re-checks it is still claimable, so that of two replicas picking the
// same row only one gets it.
func (s *Store) Claim(ctx context.Context, kinds []string, holder string, ttl time.Duration, maxAttempts int) (_ *meta.Execution, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	if len(kinds) == 0 {
		return nil, meta.ErrNotFound
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ")
	for range maxClaimRaces {
		t := now()
		args := make([]any, 0, len(kinds)+1)
		for _, k := range kinds {
			args = append(args, k)
		}
		args = append(args, t)
		var id int64
		var status string
		var attempts, stop int
		// The head (oldest claimable) of each kind and vendor; of those,
		// the one whose vendor started an execution least recently: a
		// project that queued a thousand scans gets one, then the others'
		// turn, instead of the others waiting for its thousand.
		err := s.w.QueryRowContext(ctx, s.b.bind(`SELECT e.id, e.status, e.attempts, e.stop_requested
			FROM (SELECT kind, vendor_id, MIN(id) AS head FROM job_executions
			      WHERE kind IN (`+in+`) AND (status = 'Pending' OR (status = 'Running' AND lease_until < ?))
			      GROUP BY kind, vendor_id) h
			JOIN job_executions e ON e.id = h.head
			ORDER BY (SELECT COALESCE(MAX(r.started_at), 0) FROM job_executions r
			          WHERE r.kind = h.kind AND r.vendor_id = h.vendor_id), e.id
			LIMIT 1`), args...).Scan(&id, &status, &attempts, &stop)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, meta.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if status == meta.JobRunning && (stop != 0 || attempts >= maxAttempts) {
			// Its replica died: it was asked to stop, or has died too often.
			final, msg := meta.JobStopped, ""
			if stop == 0 {
				final, msg = meta.JobError, fmt.Sprintf("abandoned after %d attempts: the replicas running it stopped before it finished", attempts)
			}
			if _, err := s.exec(ctx, `UPDATE job_executions SET status = ?, status_message = ?, ended_at = ?, updated_at = ?,
				lease_until = 0, active_key = NULL WHERE id = ? AND status = 'Running' AND lease_until < ?`,
				final, msg, t, t, id, t); err != nil {
				return nil, err
			}
			continue
		}
		res, err := s.exec(ctx, `UPDATE job_executions SET status = 'Running', holder = ?, lease_until = ?, attempts = attempts + 1,
			started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END, updated_at = ?
			WHERE id = ? AND (status = 'Pending' OR (status = 'Running' AND lease_until < ?))`,
			holder, t+ttl.Milliseconds(), t, t, id, t)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			return scanExecution(s.w.QueryRowContext(ctx, s.b.bind(`SELECT `+executionColumns+` FROM job_executions WHERE id = ?`), id))
		}
	}
	return nil, meta.ErrNotFound
}

// Renew implements meta.JobStore.
func (s *Store) Renew(ctx context.Context, id int64, holder string, ttl time.Duration) (_ bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	var stop int
	err = s.w.QueryRowContext(ctx, s.b.bind(`UPDATE job_executions SET lease_until = ?, updated_at = ?
		WHERE id = ? AND holder = ? AND status = 'Running' RETURNING stop_requested`), t+ttl.Milliseconds(), t, id, holder).Scan(&stop)
	if errors.Is(err, sql.ErrNoRows) {
		return false, meta.ErrLeaseLost
	}
	return stop != 0, err
}

// leased turns "no row changed" of an update of holder's execution into
// meta.ErrLeaseLost.
func leased(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		return meta.ErrLeaseLost
	}
	return err
}

// Finish implements meta.JobStore. The holder stays recorded (who ran it).
func (s *Store) Finish(ctx context.Context, id int64, holder string, end meta.JobEnd) error {
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		t := now()
		set, args := `status = ?, status_message = ?, ended_at = ?, updated_at = ?, lease_until = 0, active_key = NULL`,
			[]any{end.Status, end.Message, t, t}
		if end.Result != "" {
			set, args = set+`, result = ?`, append(args, end.Result)
		}
		if err := leased(tx.exec(ctx, `UPDATE job_executions SET `+set+` WHERE id = ? AND holder = ? AND status = 'Running'`,
			append(args, id, holder)...)); err != nil {
			return err
		}
		return appendLog(ctx, tx, meta.LogExecution, id, end.Log)
	})
}

// Release implements meta.JobStore.
func (s *Store) Release(ctx context.Context, id int64, holder string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return leased(s.exec(ctx, `UPDATE job_executions SET status = 'Pending', holder = '', lease_until = 0,
		attempts = attempts - 1, updated_at = ? WHERE id = ? AND holder = ? AND status = 'Running'`, now(), id, holder))
}

// SetResult implements meta.JobStore.
func (s *Store) SetResult(ctx context.Context, id int64, holder, result string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return leased(s.exec(ctx, `UPDATE job_executions SET result = ?, updated_at = ?
		WHERE id = ? AND holder = ? AND status = 'Running'`, result, now(), id, holder))
}

// RequestStop implements meta.JobStore. The two updates cover an
// execution claimed between them: the second one sees it Running.
func (s *Store) RequestStop(ctx context.Context, id int64) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	res, err := s.exec(ctx, `UPDATE job_executions SET status = 'Stopped', stop_requested = 1, ended_at = ?, updated_at = ?,
		active_key = NULL WHERE id = ? AND status = 'Pending'`, t, t, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	if _, err := s.exec(ctx, `UPDATE job_executions SET stop_requested = 1, updated_at = ? WHERE id = ? AND status = 'Running'`, t, id); err != nil {
		return err
	}
	var one int
	return notFound(s.queryRow(ctx, `SELECT 1 FROM job_executions WHERE id = ?`, id).Scan(&one))
}

// GetExecution implements meta.JobStore.
func (s *Store) GetExecution(ctx context.Context, id int64) (_ *meta.Execution, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	e, err := scanExecution(s.queryRow(ctx, `SELECT `+executionColumns+` FROM job_executions WHERE id = ?`, id))
	return e, notFound(err)
}

// executionListing is the keys of ListExecutions (Harbor's names).
var executionListing = listing{
	"id":            {expr: "id", kind: intValue},
	"status":        {expr: "status"},
	"trigger":       {expr: "triggered_by"},
	"dry_run":       {expr: "dry_run", kind: boolValue},
	"creation_time": {expr: "created_at", kind: timeValue},
	"start_time":    {expr: "started_at", kind: timeValue},
	"end_time":      {expr: "ended_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
}

// ListExecutions implements meta.JobStore.
func (s *Store) ListExecutions(ctx context.Context, q meta.ExecutionQuery) (_ []meta.Execution, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	fixed, fixedArgs := []string{"kind = ?", "vendor_id = ?"}, []any{q.Kind, q.VendorID}
	if q.VendorID < 0 { // every vendor's (replication's executions of all policies)
		fixed, fixedArgs = fixed[:1], fixedArgs[:1]
	}
	cond, args, err := s.where(executionListing, q.ListQuery, fixed, fixedArgs)
	if err != nil {
		return nil, 0, err
	}
	order, err := executionListing.orderBy(q.ListQuery, "id DESC")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM job_executions WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+executionColumns+` FROM job_executions WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *e)
	}
	return out, total, rows.Err()
}

const taskColumns = `id, execution_id, status, status_message, run_count, extra_attrs, created_at, started_at, ended_at, updated_at`

func scanTask(sc interface{ Scan(...any) error }) (*meta.Task, error) {
	var t meta.Task
	var created, started, ended, updated int64
	if err := sc.Scan(&t.ID, &t.ExecutionID, &t.Status, &t.StatusMessage, &t.RunCount, &t.ExtraAttrs,
		&created, &started, &ended, &updated); err != nil {
		return nil, err
	}
	t.CreatedAt, t.StartedAt, t.EndedAt, t.UpdatedAt = ms2t(created), ms2t(started), ms2t(ended), ms2t(updated)
	return &t, nil
}

// AddTask implements meta.JobStore.
func (s *Store) AddTask(ctx context.Context, t *meta.Task) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	if t.Status == "" {
		t.Status = meta.JobPending
	}
	ts := now()
	id, err := s.insertReturningID(ctx, `INSERT INTO job_tasks (execution_id, status, status_message, run_count, extra_attrs,
		created_at, started_at, ended_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ExecutionID, t.Status, t.StatusMessage, t.RunCount, t.ExtraAttrs, ts, t2ms(t.StartedAt), t2ms(t.EndedAt), ts)
	if err != nil {
		if noSuchExecution(err) {
			return meta.ErrNotFound
		}
		return err
	}
	t.ID, t.CreatedAt, t.UpdatedAt = id, ms2t(ts), ms2t(ts)
	return nil
}

// noSuchExecution: a task's insert failed because its execution does
// not exist (SQLite's and PostgreSQL's foreign key violation).
func noSuchExecution(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "FOREIGN KEY constraint failed") || strings.Contains(msg, "23503")
}

// UpdateTask implements meta.JobStore.
func (s *Store) UpdateTask(ctx context.Context, t *meta.Task) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	ts := now()
	res, err := s.exec(ctx, `UPDATE job_tasks SET status = ?, status_message = ?, run_count = ?, extra_attrs = ?,
		started_at = ?, ended_at = ?, updated_at = ? WHERE id = ?`,
		t.Status, t.StatusMessage, t.RunCount, t.ExtraAttrs, t2ms(t.StartedAt), t2ms(t.EndedAt), ts, t.ID)
	if err := affected(res, err); err != nil {
		return err
	}
	t.UpdatedAt = ms2t(ts)
	return nil
}

// GetTask implements meta.JobStore.
func (s *Store) GetTask(ctx context.Context, id int64) (_ *meta.Task, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t, err := scanTask(s.queryRow(ctx, `SELECT `+taskColumns+` FROM job_tasks WHERE id = ?`, id))
	return t, notFound(err)
}

// taskListing is the keys of ListTasks.
var taskListing = listing{
	"id":            {expr: "id", kind: intValue},
	"status":        {expr: "status"},
	"creation_time": {expr: "created_at", kind: timeValue},
	"start_time":    {expr: "started_at", kind: timeValue},
	"end_time":      {expr: "ended_at", kind: timeValue},
	"update_time":   {expr: "updated_at", kind: timeValue},
}

// ListTasks implements meta.JobStore.
func (s *Store) ListTasks(ctx context.Context, executionID int64, q meta.ListQuery) (_ []meta.Task, _ int64, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	cond, args, err := s.where(taskListing, q, []string{"execution_id = ?"}, []any{executionID})
	if err != nil {
		return nil, 0, err
	}
	order, err := taskListing.orderBy(q, "id ASC")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM job_tasks WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit, offset := pageArgs(q.Page)
	rows, err := s.query(ctx, `SELECT `+taskColumns+` FROM job_tasks WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []meta.Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *t)
	}
	return out, total, rows.Err()
}

// logTruncated ends a log that reached meta.MaxJobLog.
const logTruncated = "\n[log truncated: it reached its size limit]\n"

// AppendLog implements meta.JobStore: one row per chunk. Two appends at
// once may both fit under the cap by the sum before either: the cap is
// then exceeded by at most a chunk.
func (s *Store) AppendLog(ctx context.Context, owner string, id int64, text string) error {
	if text == "" {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx tx) error { return appendLog(ctx, tx, owner, id, text) })
}

// appendLog appends text to a log in tx, up to meta.MaxJobLog.
func appendLog(ctx context.Context, tx tx, owner string, id int64, text string) error {
	if text == "" {
		return nil
	}
	var size int64
	if err := tx.queryRow(ctx, `SELECT COALESCE(SUM(size), 0) FROM job_logs WHERE owner_kind = ? AND owner_id = ?`,
		owner, id).Scan(&size); err != nil {
		return err
	}
	if size >= meta.MaxJobLog {
		return nil
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	if room := meta.MaxJobLog - int(size); len(text) > room {
		for room > 0 && !utf8.RuneStart(text[room]) {
			room--
		}
		text = text[:room] + logTruncated
		if int(size)+len(text) < meta.MaxJobLog {
			text += strings.Repeat(" ", meta.MaxJobLog-int(size)-len(text)) // counts as full
		}
	}
	_, err := tx.exec(ctx, `INSERT INTO job_logs (owner_kind, owner_id, size, text) VALUES (?, ?, ?, ?)`, owner, id, len(text), text)
	return err
}

// ReadLog implements meta.JobStore.
func (s *Store) ReadLog(ctx context.Context, owner string, id int64) (_ string, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	rows, err := s.query(ctx, `SELECT text FROM job_logs WHERE owner_kind = ? AND owner_id = ? ORDER BY id`, owner, id)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var chunk string
		if err := rows.Scan(&chunk); err != nil {
			return "", err
		}
		sb.WriteString(chunk)
	}
	return sb.String(), rows.Err()
}

const scheduleColumns = `name, kind, vendor_id, type, cron, params, dry_run, jitter_ms, next_run, created_at, updated_at`

func scanSchedule(sc interface{ Scan(...any) error }) (*meta.JobSchedule, error) {
	var j meta.JobSchedule
	var dry int
	var jitter, next, created, updated int64
	if err := sc.Scan(&j.Name, &j.Kind, &j.VendorID, &j.Type, &j.Cron, &j.Params, &dry, &jitter, &next, &created, &updated); err != nil {
		return nil, err
	}
	j.DryRun, j.Jitter = dry != 0, time.Duration(jitter)*time.Millisecond
	j.NextRun, j.CreatedAt, j.UpdatedAt = ms2t(next), ms2t(created), ms2t(updated)
	return &j, nil
}

// SetSchedule implements meta.JobStore.
func (s *Store) SetSchedule(ctx context.Context, j *meta.JobSchedule) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	t := now()
	var created int64
	err = s.w.QueryRowContext(ctx, s.b.bind(`INSERT INTO job_schedules (`+scheduleColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, vendor_id = excluded.vendor_id, type = excluded.type,
		cron = excluded.cron, params = excluded.params, dry_run = excluded.dry_run, jitter_ms = excluded.jitter_ms,
		next_run = excluded.next_run, updated_at = excluded.updated_at RETURNING created_at`),
		j.Name, j.Kind, j.VendorID, j.Type, j.Cron, j.Params, b2i(j.DryRun), j.Jitter.Milliseconds(), j.NextRun.UnixMilli(), t, t).Scan(&created)
	if err != nil {
		return err
	}
	j.CreatedAt, j.UpdatedAt, j.NextRun = ms2t(created), ms2t(t), time.UnixMilli(j.NextRun.UnixMilli())
	return nil
}

// GetSchedule implements meta.JobStore.
func (s *Store) GetSchedule(ctx context.Context, name string) (_ *meta.JobSchedule, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	j, err := scanSchedule(s.queryRow(ctx, `SELECT `+scheduleColumns+` FROM job_schedules WHERE name = ?`, name))
	return j, notFound(err)
}

// DeleteSchedule implements meta.JobStore.
func (s *Store) DeleteSchedule(ctx context.Context, name string) (err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	return affected(s.exec(ctx, `DELETE FROM job_schedules WHERE name = ?`, name))
}

// DueSchedules implements meta.JobStore.
func (s *Store) DueSchedules(ctx context.Context, at time.Time, limit int) (_ []meta.JobSchedule, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	if limit <= 0 || limit > meta.MaxListSize {
		limit = meta.MaxListSize
	}
	rows, err := s.query(ctx, `SELECT `+scheduleColumns+` FROM job_schedules WHERE next_run <= ? ORDER BY next_run, name LIMIT ?`,
		at.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.JobSchedule{}
	for rows.Next() {
		j, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// Advance implements meta.JobStore.
func (s *Store) Advance(ctx context.Context, name string, prev, next time.Time, run *meta.Execution, exclusive bool) (advanced bool, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx tx) error {
		advanced = false
		res, err := tx.exec(ctx, `UPDATE job_schedules SET next_run = ?, updated_at = ? WHERE name = ? AND next_run = ?`,
			next.UnixMilli(), now(), name, prev.UnixMilli())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		advanced = true
		if run == nil {
			return nil
		}
		return insertExecution(ctx, tx.queryRow, run, exclusive)
	})
	return advanced, err
}

// pruneBatch bounds one pruning transaction.
const pruneBatch = 500

// PruneExecutions implements meta.JobStore, a batch per transaction so
// that a large backlog never holds the write lock long.
func (s *Store) PruneExecutions(ctx context.Context, before time.Time, keep int) (total int64, err error) {
	for {
		var n int64
		err := s.inTx(ctx, func(ctx context.Context, tx tx) error {
			ids, err := queryInts(ctx, tx, `SELECT e.id FROM job_executions e
				WHERE e.status IN (?, ?, ?) AND e.ended_at > 0 AND e.ended_at < ?
				AND (SELECT COUNT(*) FROM job_executions n WHERE n.kind = e.kind AND n.vendor_id = e.vendor_id AND n.id > e.id) >= ?
				ORDER BY e.id LIMIT ?`, meta.JobSuccess, meta.JobError, meta.JobStopped, t2ms(before), keep, pruneBatch)
			if err != nil || len(ids) == 0 {
				n = 0
				return err
			}
			in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
			args := make([]any, len(ids))
			for i, id := range ids {
				args[i] = id
			}
			for _, q := range []string{
				`DELETE FROM job_logs WHERE owner_kind = '` + meta.LogTask + `' AND owner_id IN (SELECT id FROM job_tasks WHERE execution_id IN ` + in + `)`,
				`DELETE FROM job_logs WHERE owner_kind = '` + meta.LogExecution + `' AND owner_id IN ` + in,
				`DELETE FROM job_tasks WHERE execution_id IN ` + in,
				`DELETE FROM job_executions WHERE id IN ` + in,
			} {
				if _, err := tx.exec(ctx, q, args...); err != nil {
					return err
				}
			}
			n = int64(len(ids))
			return nil
		})
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// queryInts runs a query of one integer column in tx.
func queryInts(ctx context.Context, tx tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
