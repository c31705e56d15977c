package meta

import (
	"context"
	"errors"
	"time"
)

// Job statuses: Harbor's (src/jobservice/job/status.go), shown as they are
// by its API.
const (
	JobPending = "Pending"
	JobRunning = "Running"
	JobSuccess = "Success"
	JobError   = "Error"
	JobStopped = "Stopped"
)

// Execution triggers: Harbor's (src/pkg/task/model.go).
const (
	TriggerManual   = "MANUAL"
	TriggerSchedule = "SCHEDULE"
	TriggerEvent    = "EVENT"
)

// Owners of a job log.
const (
	LogExecution = "execution"
	LogTask      = "task"
)

// MaxJobLog bounds one execution's or task's log; what is appended past it
// is dropped after a "log truncated" line.
const MaxJobLog = 1 << 20

// ErrLeaseLost: the execution is no longer held by the caller (its lease
// expired and another replica claimed it, or it was finished).
var ErrLeaseLost = errors.New("job lease lost")

// Execution is one run of a background job: a row leased by one replica
// at a time (internal/jobs).
type Execution struct {
	ID int64
	// Kind names the job ("gc", "purge_audit", "retention", …).
	Kind string
	// VendorID is what the run is about within its kind (a retention
	// policy's id), 0 if nothing.
	VendorID      int64
	Trigger       string // TriggerManual, TriggerSchedule, TriggerEvent
	Status        string // JobPending … JobStopped
	StatusMessage string
	// Params and Result are JSON text, stored as given ("" when none).
	Params string
	Result string
	DryRun bool
	// StartedAt and EndedAt are zero until the execution starts and ends.
	CreatedAt, StartedAt, EndedAt, UpdatedAt time.Time
	// Holder is the replica running it, until LeaseUntil.
	Holder     string
	LeaseUntil time.Time
	// Attempts counts the claims: more than one means a replica died (or
	// was stopped) while running it.
	Attempts      int
	StopRequested bool
}

// Active reports whether e has not finished.
func (e *Execution) Active() bool { return e.Status == JobPending || e.Status == JobRunning }

// Task is a unit of an execution that has several (retention: one per
// repository).
type Task struct {
	ID            int64
	ExecutionID   int64
	Status        string
	StatusMessage string
	RunCount      int
	// ExtraAttrs is JSON text ("" when none).
	ExtraAttrs                               string
	CreatedAt, StartedAt, EndedAt, UpdatedAt time.Time
}

// JobSchedule enqueues an execution of Kind (for VendorID) each time its
// cron expression (six fields, with seconds) comes round, NextRun being
// the next time. Jitter delays every run by a fixed offset.
type JobSchedule struct {
	// Name is unique: "gc", "purge_audit", "retention:12".
	Name     string
	Kind     string
	VendorID int64
	// Type is Harbor's ScheduleObj type: Hourly, Daily, Weekly, Custom.
	Type   string
	Cron   string
	Params string // JSON text, given to each execution
	DryRun bool
	Jitter time.Duration
	// NextRun includes the jitter.
	NextRun              time.Time
	CreatedAt, UpdatedAt time.Time
}

// ExecutionQuery lists the executions of one kind and vendor (a
// negative VendorID: of every vendor). Keys: id,
// status, trigger, dry_run, creation_time, start_time, end_time,
// update_time. Default order: newest first.
type ExecutionQuery struct {
	Kind     string
	VendorID int64
	ListQuery
}

// JobStore keeps background jobs: executions, their tasks and logs, and
// schedules. Leases are held by a holder (a replica's name) until a time.
type JobStore interface {
	// Enqueue adds e as Pending (e.Kind, VendorID, Trigger, Params, DryRun
	// are used) and sets its ID and times. With exclusive, it is
	// ErrConflict while another execution of the same kind and vendor is
	// Pending or Running.
	Enqueue(ctx context.Context, e *Execution, exclusive bool) error
	// Claim leases a claimable execution of one of kinds to holder for
	// ttl and marks it Running: a Pending one, or a Running one whose
	// lease has expired (its replica died). Fair between vendors: it is
	// the oldest of the kind and vendor that started one least recently. Each claim counts an
	// attempt; an expired one that has had maxAttempts is marked Error
	// instead, and one whose stop was requested Stopped. ErrNotFound when
	// there is nothing to claim.
	Claim(ctx context.Context, kinds []string, holder string, ttl time.Duration, maxAttempts int) (*Execution, error)
	// Renew extends holder's lease on execution id to now+ttl and reports
	// whether a stop was requested; ErrLeaseLost if holder no longer has it.
	Renew(ctx context.Context, id int64, holder string, ttl time.Duration) (stop bool, err error)
	// Finish ends holder's execution as end says, in one transaction
	// with the last chunk of its log. ErrLeaseLost if holder no longer
	// has it (nothing is written then).
	Finish(ctx context.Context, id int64, holder string, end JobEnd) error
	// Release gives holder's lease up without finishing: the execution is
	// Pending again and its attempt is not counted (a graceful shutdown).
	Release(ctx context.Context, id int64, holder string) error
	// SetResult records a running execution's result (progress) so far.
	SetResult(ctx context.Context, id int64, holder, result string) error
	// RequestStop asks a Running execution to stop (its holder sees it on
	// its next Renew) and stops a Pending one at once; a finished one is
	// left as it is. ErrNotFound if there is no such execution.
	RequestStop(ctx context.Context, id int64) error
	GetExecution(ctx context.Context, id int64) (*Execution, error)
	ListExecutions(ctx context.Context, q ExecutionQuery) ([]Execution, int64, error)
	// PruneExecutions deletes finished executions (with their tasks and
	// logs) that ended before before, except the newest keep of each kind
	// and vendor, and reports how many it deleted.
	PruneExecutions(ctx context.Context, before time.Time, keep int) (int64, error)

	// AddTask adds t to its execution and sets its ID and times.
	AddTask(ctx context.Context, t *Task) error
	// UpdateTask saves t's status, message, run count, extra attributes
	// and start and end times.
	UpdateTask(ctx context.Context, t *Task) error
	GetTask(ctx context.Context, id int64) (*Task, error)
	// ListTasks lists an execution's tasks, oldest first. Keys: id,
	// status, creation_time, start_time, end_time, update_time.
	ListTasks(ctx context.Context, executionID int64, q ListQuery) ([]Task, int64, error)

	// AppendLog appends text to the log of an execution or a task (owner
	// LogExecution or LogTask), up to MaxJobLog.
	AppendLog(ctx context.Context, owner string, id int64, text string) error
	// ReadLog returns that log ("" if none).
	ReadLog(ctx context.Context, owner string, id int64) (string, error)

	// SetSchedule creates or replaces the schedule s.Name (its creation
	// time is kept).
	SetSchedule(ctx context.Context, s *JobSchedule) error
	GetSchedule(ctx context.Context, name string) (*JobSchedule, error)
	// DeleteSchedule removes a schedule; ErrNotFound if there is none.
	DeleteSchedule(ctx context.Context, name string) error
	// DueSchedules lists up to limit schedules whose next run is at or
	// before now, the most overdue first.
	DueSchedules(ctx context.Context, now time.Time, limit int) ([]JobSchedule, error)
	// Advance moves schedule name's next run from prev to next, only if
	// it is still prev (compare and set, so one replica fires each run),
	// and reports whether it did. With run not nil it also enqueues run
	// (as Enqueue, in the same transaction) when it advances: run.ID stays
	// 0 if exclusive and one is already active (the run is skipped, the
	// schedule advanced all the same).
	Advance(ctx context.Context, name string, prev, next time.Time, run *Execution, exclusive bool) (bool, error)
}

// JobEnd is how an execution ended.
type JobEnd struct {
	Status  string // JobSuccess, JobError or JobStopped
	Message string
	// Result is JSON text; "" keeps the one set before.
	Result string
	// Log is appended to the execution's log (as AppendLog does).
	Log string
}
