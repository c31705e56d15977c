package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Handler runs one execution. It returns nil for Success and an error for
// Error (its text is the status message); if the execution was asked to
// stop, it ends Stopped whatever the handler returns.
//
// An execution may be run more than once: if the replica running it dies,
// its lease expires and another replica claims it again (up to
// Queue.MaxAttempts claims); after a graceful shutdown that outlasted the
// grace period it is Pending again. A handler must therefore be
// idempotent, or resume from what it finds done (re-checking its
// candidates, skipping what is gone).
type Handler func(ctx context.Context, run *Run) error

// Option configures a registered kind.
type Option func(*kindConfig)

type kindConfig struct {
	handler   Handler
	exclusive bool
	yield     *Yield
}

// Exclusive allows one active (Pending or Running) execution per kind and
// vendor: Enqueue answers meta.ErrConflict while there is one (Harbor's
// 409 "a GC is already running"), and a schedule that comes round then
// skips its run.
func Exclusive() Option { return func(c *kindConfig) { c.exclusive = true } }

// Defaults of a Queue's zero fields.
const (
	DefaultTTL         = 30 * time.Second
	DefaultHeartbeat   = 10 * time.Second
	DefaultPoll        = 2 * time.Second
	DefaultWorkers     = 2
	DefaultMaxAttempts = 3
	DefaultGrace       = 20 * time.Second
)

// Queue runs the executions of its registered kinds from the shared
// database: each worker claims one with a lease (TTL), renews it every
// Heartbeat while the handler runs, and finishes it. Any replica may run
// any execution; the lease makes it one at a time.
type Queue struct {
	Store  meta.JobStore
	Holder string // this replica's name (NewHolder)
	Log    *slog.Logger

	TTL, Heartbeat, Poll time.Duration
	Workers              int
	// MaxAttempts bounds the claims of one execution: a run whose
	// replicas died that often is marked Error.
	MaxAttempts int
	// Grace is how long Run waits at shutdown for running handlers before
	// it cancels them and gives their executions back (Pending).
	Grace time.Duration

	mu    sync.RWMutex
	kinds map[string]kindConfig
	wake  chan struct{}
}

// NewQueue returns a queue with the default settings.
func NewQueue(store meta.JobStore, holder string, log *slog.Logger) *Queue {
	return &Queue{Store: store, Holder: holder, Log: log}
}

// Register makes the queue run executions of kind with h. Register every
// kind before Run.
func (q *Queue) Register(kind string, h Handler, opts ...Option) {
	c := kindConfig{handler: h}
	for _, o := range opts {
		o(&c)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.kinds == nil {
		q.kinds = map[string]kindConfig{}
	}
	q.kinds[kind] = c
}

func (q *Queue) kind(kind string) (kindConfig, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	c, ok := q.kinds[kind]
	return c, ok
}

// claimable returns the kinds that may be claimed now: all but those
// yielding to foreground writes at the moment (see Yield), and how soon
// to look again for those (0: none is held back).
func (q *Queue) claimable(now time.Time) ([]string, time.Duration) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	out := make([]string, 0, len(q.kinds))
	var retry time.Duration
	for k, c := range q.kinds {
		if c.yield != nil {
			if ok, wait := c.yield.open(now); !ok {
				if retry == 0 || wait < retry {
					retry = max(wait, minYieldWait)
				}
				continue
			}
		}
		out = append(out, k)
	}
	return out, retry
}

// minYieldWait bounds how often an idle worker asks again while a kind
// yields.
const minYieldWait = 5 * time.Millisecond

// Exclusive reports whether kind was registered Exclusive.
func (q *Queue) Exclusive(kind string) bool {
	c, _ := q.kind(kind)
	return c.exclusive
}

// ErrUnknownKind: no handler is registered for the kind.
var ErrUnknownKind = errors.New("no handler registered for the job kind")

// encodeParams is params as JSON text: a string, []byte or
// json.RawMessage as it is, anything else marshalled; nil is "".
func encodeParams(params any) (string, error) {
	switch p := params.(type) {
	case nil:
		return "", nil
	case string:
		return p, nil
	case []byte:
		return string(p), nil
	case json.RawMessage:
		return string(p), nil
	}
	b, err := json.Marshal(params)
	return string(b), err
}

// Enqueue adds a Pending execution of kind and returns its id; a worker
// of any replica runs it. params is kept as JSON (see Run.Params). For an
// Exclusive kind it is meta.ErrConflict while one is active.
func (q *Queue) Enqueue(ctx context.Context, kind string, vendorID int64, trigger string, params any, dryRun bool) (int64, error) {
	c, ok := q.kind(kind)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	p, err := encodeParams(params)
	if err != nil {
		return 0, err
	}
	e := &meta.Execution{Kind: kind, VendorID: vendorID, Trigger: trigger, Params: p, DryRun: dryRun}
	if err := q.Store.Enqueue(ctx, e, c.exclusive); err != nil {
		return 0, err
	}
	q.poke()
	return e.ID, nil
}

// NewExecution makes the row Enqueue would insert, for a caller that
// inserts it in its own transaction (then calls Poke).
func (q *Queue) NewExecution(kind string, vendorID int64, trigger string, params any) (*meta.Execution, error) {
	if _, ok := q.kind(kind); !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	p, err := encodeParams(params)
	if err != nil {
		return nil, err
	}
	return &meta.Execution{Kind: kind, VendorID: vendorID, Trigger: trigger, Params: p}, nil
}

// Poke wakes an idle worker of this replica (after inserting executions
// made with NewExecution).
func (q *Queue) Poke() { q.poke() }

// poke wakes an idle worker of this replica.
func (q *Queue) poke() {
	q.mu.Lock()
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
	}
	ch := q.wake
	q.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (q *Queue) wakeCh() chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
	}
	return q.wake
}

func (q *Queue) defaults() {
	if q.TTL <= 0 {
		q.TTL = DefaultTTL
	}
	if q.Heartbeat <= 0 {
		q.Heartbeat = min(DefaultHeartbeat, q.TTL/3)
	}
	if q.Poll <= 0 {
		q.Poll = DefaultPoll
	}
	if q.Workers <= 0 {
		q.Workers = DefaultWorkers
	}
	if q.MaxAttempts <= 0 {
		q.MaxAttempts = DefaultMaxAttempts
	}
	if q.Grace <= 0 {
		q.Grace = DefaultGrace
	}
	if q.Log == nil {
		q.Log = slog.Default()
	}
}

// Run runs the workers until ctx ends. Then it claims nothing more, waits
// up to Grace for running handlers, cancels those still running and gives
// their executions back, and returns.
func (q *Queue) Run(ctx context.Context) {
	q.defaults()
	// Handlers run under their own context: the shutdown cancels it only
	// after the grace period.
	hctx, cancelHandlers := context.WithCancelCause(context.Background())
	defer cancelHandlers(nil)
	var wg sync.WaitGroup
	for range q.Workers {
		wg.Go(func() { q.work(ctx, hctx) })
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(q.Grace):
	}
	cancelHandlers(errShutdown)
	<-done
}

// errShutdown cancels handlers still running after the grace period.
var errShutdown = errors.New("berth is shutting down")

// work is one worker: claim, run, repeat; wait for a poke or the poll
// interval when there is nothing to do.
func (q *Queue) work(ctx, hctx context.Context) {
	wake := q.wakeCh()
	// due is when to look for work again: at once after a poke or a job
	// run, else every Poll. A kind yielding to foreground writes is
	// looked at again as soon as it may run, without querying for the
	// others before they are due.
	var due time.Time
	for ctx.Err() == nil {
		now := time.Now()
		kinds, retry := q.claimable(now)
		if retry == 0 || !now.Before(due) {
			e, err := q.Store.Claim(ctx, kinds, q.Holder, q.TTL, q.MaxAttempts)
			switch {
			case err == nil:
				q.execute(hctx, e)
				due = time.Time{}
				continue
			case !errors.Is(err, meta.ErrNotFound) && ctx.Err() == nil:
				q.Log.Warn("claiming a job", "err", err)
			}
			due = now.Add(q.Poll)
		}
		wait := time.Until(due)
		if retry > 0 {
			wait = min(wait, retry)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-wake:
			due = time.Time{}
		case <-t.C:
		}
		t.Stop()
	}
}

// execute runs the handler of e under a lease kept by a heartbeat, then
// records how it ended.
func (q *Queue) execute(hctx context.Context, e *meta.Execution) {
	c, ok := q.kind(e.Kind)
	log := q.Log.With("job", e.Kind, "execution", e.ID)
	ctx, cancel := context.WithCancelCause(hctx)
	defer cancel(nil)
	run := &Run{Execution: *e, q: q, ctx: ctx}
	if e.Attempts > 1 {
		run.Log("resumed on %s (attempt %d): the replica running it stopped", q.Holder, e.Attempts)
	}
	lost := make(chan struct{})
	var lostOnce sync.Once
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		t := time.NewTicker(q.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			run.flush()
			stop, err := q.Store.Renew(context.WithoutCancel(ctx), e.ID, q.Holder, q.TTL)
			switch {
			case errors.Is(err, meta.ErrLeaseLost):
				lostOnce.Do(func() { close(lost) })
				cancel(meta.ErrLeaseLost)
				return
			case err != nil:
				log.Warn("renewing a job lease", "err", err)
			case stop:
				run.stop.Store(true)
				cancel(ErrStopped)
			}
		}
	}()

	var herr error
	if !ok {
		herr = fmt.Errorf("%w: %q", ErrUnknownKind, e.Kind)
	} else {
		herr = safeCall(ctx, c.handler, run)
	}
	cancel(nil)
	<-beatDone
	bg, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()

	select {
	case <-lost:
		log.Warn("lost the lease of a running job: another replica runs it now")
		return
	default:
	}
	// A last look: a stop may have been asked since the last heartbeat.
	if !run.stop.Load() {
		if cur, err := q.Store.GetExecution(bg, e.ID); err == nil && cur.StopRequested {
			run.stop.Store(true)
		}
	}
	status, msg := meta.JobSuccess, ""
	switch {
	case run.stop.Load():
		status, msg = meta.JobStopped, "stopped on request"
		run.Log("stopped on request")
	case herr != nil && errors.Is(context.Cause(hctx), errShutdown):
		run.Log("interrupted by a shutdown; it will run again")
		run.flushWith(bg)
		if err := q.Store.Release(bg, e.ID, q.Holder); err != nil {
			log.Warn("giving a job back", "err", err)
		}
		return
	case herr != nil:
		status, msg = meta.JobError, herr.Error()
		run.Log("failed: %v", herr)
	}
	// The last of the log goes with the end: one write, not two.
	if err := q.Store.Finish(bg, e.ID, q.Holder, meta.JobEnd{Status: status, Message: msg, Result: run.result(), Log: run.takeLog()}); err != nil {
		log.Warn("recording the end of a job", "status", status, "err", err)
		return
	}
	log.Info("job finished", "status", status)
}

// safeCall runs h, turning a panic into an error.
func safeCall(ctx context.Context, h Handler, run *Run) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job panicked: %v", p)
		}
	}()
	return h(ctx, run)
}

// ErrStopped is the cause of a handler's context cancelled by a stop
// request.
var ErrStopped = errors.New("stop requested")

// Run is one execution as its handler sees it.
type Run struct {
	// Execution is the row as it was claimed.
	Execution meta.Execution

	q    *Queue
	ctx  context.Context
	stop atomic.Bool

	mu      sync.Mutex
	buf     strings.Builder
	res     string
	flushMu sync.Mutex
}

// ID is the execution's id.
func (r *Run) ID() int64 { return r.Execution.ID }

// Params decodes the execution's parameters into v (nothing if none).
func (r *Run) Params(v any) error {
	if r.Execution.Params == "" {
		return nil
	}
	return json.Unmarshal([]byte(r.Execution.Params), v)
}

// StopRequested reports whether a stop was asked for (the handler's
// context is cancelled too, with cause ErrStopped).
func (r *Run) StopRequested() bool { return r.stop.Load() }

// logFlushSize is how much log Run buffers before writing it.
const logFlushSize = 16 << 10

// Log appends a line to the execution's log (Harbor's format: time,
// level, message). Lines are buffered and written every heartbeat, at
// 16 KiB, and at the end.
func (r *Run) Log(format string, args ...any) {
	line := time.Now().UTC().Format(time.RFC3339) + " [INFO] " + fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.buf.WriteString(strings.TrimRight(line, "\n"))
	r.buf.WriteByte('\n')
	full := r.buf.Len() >= logFlushSize
	r.mu.Unlock()
	if full {
		r.flush()
	}
}

func (r *Run) flush() { r.flushWith(context.WithoutCancel(r.ctx)) }

// takeLog returns the buffered log and empties the buffer; the heartbeat
// has stopped when execute calls it, so no flush runs meanwhile.
func (r *Run) takeLog() string {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	text := r.buf.String()
	r.buf.Reset()
	return text
}

// flushWith writes the buffered log; flushes are serialized so that the
// chunks keep their order.
func (r *Run) flushWith(ctx context.Context) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	text := r.buf.String()
	r.buf.Reset()
	r.mu.Unlock()
	if text == "" {
		return
	}
	if err := r.q.Store.AppendLog(ctx, meta.LogExecution, r.Execution.ID, text); err != nil {
		r.q.Log.Warn("writing a job log", "execution", r.Execution.ID, "err", err)
	}
}

// SetResult records v (as JSON) as the execution's result, at once: it
// is visible while the run goes on, and kept when it ends.
func (r *Run) SetResult(v any) error {
	p, err := encodeParams(v)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.res = p
	r.mu.Unlock()
	return r.q.Store.SetResult(context.WithoutCancel(r.ctx), r.Execution.ID, r.q.Holder, p)
}

func (r *Run) result() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.res
}

// AddTask adds a task to the execution (status Pending unless set),
// with extra attributes (JSON-encoded as SetResult does); t.ID is set.
func (r *Run) AddTask(ctx context.Context, t *meta.Task, extra any) error {
	p, err := encodeParams(extra)
	if err != nil {
		return err
	}
	t.ExecutionID, t.ExtraAttrs = r.Execution.ID, p
	return r.q.Store.AddTask(ctx, t)
}

// UpdateTask saves a task of the execution.
func (r *Run) UpdateTask(ctx context.Context, t *meta.Task) error {
	if t.ExecutionID != r.Execution.ID {
		return fmt.Errorf("task %d is not of execution %d", t.ID, r.Execution.ID)
	}
	return r.q.Store.UpdateTask(ctx, t)
}

// TaskLog appends a line to a task's log (written at once).
func (r *Run) TaskLog(ctx context.Context, taskID int64, format string, args ...any) error {
	line := time.Now().UTC().Format(time.RFC3339) + " [INFO] " + strings.TrimRight(fmt.Sprintf(format, args...), "\n") + "\n"
	return r.q.Store.AppendLog(ctx, meta.LogTask, taskID, line)
}
