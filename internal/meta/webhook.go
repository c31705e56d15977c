package meta

import (
	"context"
	"time"
)

// WebhookPolicy is a project's webhook policy. What it subscribes to and
// where it delivers (Policy, JSON text) is internal/webhook's business;
// the store keeps it as given. Secret is the sealed key deliveries are
// signed with.
type WebhookPolicy struct {
	ID          int64
	ProjectID   int64
	Name        string
	Description string
	Enabled     bool
	Policy      string
	Secret      string
	Creator     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// WebhookExecution is one event a policy matched (Harbor's webhook
// Execution); its tasks are the deliveries, one per target.
type WebhookExecution struct {
	ID        int64
	PolicyID  int64
	EventType string
	Status    string // JobPending, JobRunning, JobSuccess, JobError
	Trigger   string // TriggerEvent, or TriggerManual for a test
	// Payload is the event as internal/webhook keeps it (JSON text).
	Payload   string
	CreatedAt time.Time
	UpdatedAt time.Time
	EndedAt   time.Time
	// Tasks are added with the execution (AddWebhookExecutions).
	Tasks []WebhookTask
}

// WebhookTask is one delivery of an execution to one target of its
// policy: leased by one replica at a time, retried at NextAt.
type WebhookTask struct {
	ID          int64
	ExecutionID int64
	// Target is the index of the target in the policy.
	Target int
	// OrderKey groups deliveries that go in id order: a task is claimed
	// only once every earlier task of its key has ended.
	OrderKey      string
	Status        string
	StatusMessage string
	RunCount      int
	// LastCode is the HTTP status of the last attempt (0: none answered).
	LastCode int
	NextAt   time.Time
	// Holder holds the lease until LeaseUntil while delivering.
	Holder                                   string
	LeaseUntil                               time.Time
	CreatedAt, StartedAt, EndedAt, UpdatedAt time.Time
	// PolicyID, EventType and Trigger are the execution's (filled when
	// read).
	PolicyID  int64
	EventType string
	Trigger   string
}

// WebhookAttempt is the outcome of one delivery attempt of a task.
type WebhookAttempt struct {
	// Status: JobSuccess, JobError (given up), JobStopped (not sent: the
	// policy is disabled), or JobPending (retry at NextAt).
	Status  string
	Code    int
	Message string
	NextAt  time.Time
	// Log is appended to the task's log (bounded by MaxWebhookLog).
	Log string
}

// MaxWebhookLog bounds a delivery task's log: attempts past it are not
// logged.
const MaxWebhookLog = 64 << 10

// WebhookJob is a task with its execution's payload (Harbor's deprecated
// WebhookJob).
type WebhookJob struct {
	WebhookTask
	Payload string
}

// WebhookLastTrigger is when a policy last fired for an event type.
type WebhookLastTrigger struct {
	PolicyID  int64
	EventType string
	At        time.Time
}

// WebhookStore keeps webhook policies (going with their project), their
// executions and delivery tasks.
type WebhookStore interface {
	// CreateWebhookPolicy adds p and sets its ID and times. ErrNotFound:
	// no such project; ErrConflict: the project has a policy of that name.
	CreateWebhookPolicy(ctx context.Context, p *WebhookPolicy) error
	// WebhookPolicy returns policy id; ErrNotFound if there is none.
	WebhookPolicy(ctx context.Context, id int64) (*WebhookPolicy, error)
	// WebhookPolicies lists a project's policies, by id, with the total.
	// Keys: id, name, enabled, creation_time, update_time.
	WebhookPolicies(ctx context.Context, projectID int64, q ListQuery) ([]WebhookPolicy, int64, error)
	// ProjectWebhookPolicies lists the enabled policies of the project
	// named project (what an event of it fires).
	ProjectWebhookPolicies(ctx context.Context, project string) ([]WebhookPolicy, error)
	// WebhookEventInUse reports whether an enabled policy of any project
	// subscribes to eventType.
	WebhookEventInUse(ctx context.Context, eventType string) (bool, error)
	// UpdateWebhookPolicy saves p's name, description, enabled flag and
	// policy, and its secret unless empty (the project and creator stay),
	// and sets its times.
	// ErrNotFound, ErrConflict as for create.
	UpdateWebhookPolicy(ctx context.Context, p *WebhookPolicy) error
	// DeleteWebhookPolicy removes policy id with its executions and
	// tasks; ErrNotFound if there is none.
	DeleteWebhookPolicy(ctx context.Context, id int64) error

	// AddWebhookExecutions adds the executions with their tasks (Pending,
	// due at once) in one transaction and sets their IDs and times.
	// Executions of a policy deleted meanwhile are dropped.
	AddWebhookExecutions(ctx context.Context, es []*WebhookExecution) error
	// ClaimWebhookTasks leases to holder, until now+ttl, up to limit due
	// tasks, each the first of its order key not yet ended, and marks
	// them (and their executions) Running. A Running task whose lease
	// expired (its replica died) is due again.
	ClaimWebhookTasks(ctx context.Context, holder string, ttl time.Duration, limit int) ([]WebhookTask, error)
	// FinishWebhookAttempt records holder's attempt on task id: its run
	// count, code, message and log; the task ends (Success, Error) or is
	// Pending again until a.NextAt. An execution whose tasks have all
	// ended ends (Error if one did). ErrLeaseLost if holder no longer
	// holds the task.
	FinishWebhookAttempt(ctx context.Context, id int64, holder string, a WebhookAttempt) error
	// ReleaseWebhookTasks gives holder's leased tasks back (Pending, due
	// at once) at shutdown.
	ReleaseWebhookTasks(ctx context.Context, holder string) error

	// PruneWebhookExecutions deletes up to limit executions (with their
	// tasks) that ended before before, oldest first, and says how many.
	PruneWebhookExecutions(ctx context.Context, before time.Time, limit int) (int64, error)

	// WebhookExecution returns execution id; ErrNotFound.
	WebhookExecution(ctx context.Context, id int64) (*WebhookExecution, error)
	// WebhookExecutions lists a policy's executions, newest first. Keys:
	// id, status, trigger, event_type, creation_time, update_time,
	// end_time.
	WebhookExecutions(ctx context.Context, policyID int64, q ListQuery) ([]WebhookExecution, int64, error)
	// WebhookTask returns task id; ErrNotFound.
	WebhookTask(ctx context.Context, id int64) (*WebhookTask, error)
	// WebhookTasks lists an execution's tasks, oldest first. Keys: id,
	// status, creation_time, start_time, end_time, update_time.
	WebhookTasks(ctx context.Context, executionID int64, q ListQuery) ([]WebhookTask, int64, error)
	// WebhookJobs lists the tasks of all a policy's executions with their
	// payloads, newest first. Keys: id, status, event_type,
	// creation_time, update_time.
	WebhookJobs(ctx context.Context, policyID int64, q ListQuery) ([]WebhookJob, int64, error)
	// WebhookTaskLog returns a task's log ("" if none); ErrNotFound.
	WebhookTaskLog(ctx context.Context, id int64) (string, error)
	// WebhookLastTriggers reports, for each policy of the project and
	// event type it fired for, the time of its last execution.
	WebhookLastTriggers(ctx context.Context, projectID int64) ([]WebhookLastTrigger, error)
}
