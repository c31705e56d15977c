package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// Sealer encrypts secrets at rest (settings.Sealer).
type Sealer interface {
	Seal(plain string) string
	Open(sealed string) (string, error)
}

// Options configures a Service. Zero durations take the defaults.
type Options struct {
	Store meta.WebhookStore
	// Projects tells whether a project is public (Harbor's repo_type).
	Projects interface {
		GetProjectByName(ctx context.Context, name string) (*meta.Project, error)
	}
	Sealer Sealer
	// Host is the registry's host[:port] in resource URLs.
	Host string
	// Holder names this replica in task leases (jobs.NewHolder).
	Holder string
	Log    *slog.Logger
	// Buffer bounds the events waiting to become rows; past it events are
	// dropped (and counted in the log) rather than slow the publisher.
	Buffer int
	// Workers deliver at once on this replica.
	Workers int
	// Timeout bounds one delivery request.
	Timeout time.Duration
	// RetryFor is how long a failing delivery is retried, from its
	// event, before it is given up; retries back off from RetryMin
	// doubling to RetryMax, with jitter.
	RetryFor, RetryMin, RetryMax time.Duration
	// Poll is how often idle workers look for due deliveries (a replica
	// that made the rows wakes its own at once).
	Poll time.Duration
}

// Defaults of Options' zero fields.
const (
	DefaultBuffer   = 4096
	DefaultWorkers  = 4
	DefaultTimeout  = 10 * time.Second
	DefaultRetryFor = 12 * time.Hour
	DefaultRetryMin = 5 * time.Second
	DefaultRetryMax = 30 * time.Minute
	DefaultPoll     = 2 * time.Second
)

// Service holds the policies and delivers events.
type Service struct {
	opt     Options
	queue   chan events.Event
	dropped atomic.Int64
	wake    chan struct{}
	clients [2]*http.Client // [0] verifies certificates, [1] skips

	// Pulls are subscribed to only once a policy wants them (see
	// watchPulls): until then a manifest GET builds no event.
	bus     *events.Bus
	pullsMu sync.Mutex
	pulls   bool
}

// New returns a service; Subscribe it to the bus and Run it.
func New(opt Options) *Service {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.Timeout, DefaultTimeout)
	def(&opt.RetryFor, DefaultRetryFor)
	def(&opt.RetryMin, DefaultRetryMin)
	def(&opt.RetryMax, DefaultRetryMax)
	def(&opt.Poll, DefaultPoll)
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers
	}
	s := &Service{opt: opt, queue: make(chan events.Event, opt.Buffer), wake: make(chan struct{}, 1)}
	s.clients = [2]*http.Client{newClient(opt.Timeout, false), newClient(opt.Timeout, true)}
	return s
}

// Subscribe makes s receive the event types policies may subscribe to;
// pulls once a policy subscribes to them (checked now, by Run every
// pullCheck, and when this replica stores a policy).
func (s *Service) Subscribe(ctx context.Context, bus *events.Bus) {
	var types []events.Type
	for _, t := range EventTypes {
		if t != events.PullArtifact {
			types = append(types, t)
		}
	}
	bus.Subscribe(s.Handle, types...)
	s.pullsMu.Lock()
	s.bus = bus
	s.pullsMu.Unlock()
	s.watchPulls(ctx)
}

// pullCheck is how often a replica looks for a policy (made on another
// replica) that subscribes to pulls.
const pullCheck = time.Minute

// watchPulls subscribes to pulls if a policy wants them and it has not
// yet (there is no unsubscribe: it stays once done).
func (s *Service) watchPulls(ctx context.Context) {
	s.pullsMu.Lock()
	defer s.pullsMu.Unlock()
	if s.pulls || s.bus == nil {
		return
	}
	in, err := s.opt.Store.WebhookEventInUse(ctx, string(events.PullArtifact))
	if err != nil {
		s.opt.Log.Warn("webhook: looking for policies of pulls", "err", err)
		return
	}
	if in {
		s.bus.Subscribe(s.Handle, events.PullArtifact)
		s.pulls = true
	}
}

// Handle queues e for the policies it may fire; it never blocks: when the
// buffer is full the event is dropped and counted.
func (s *Service) Handle(_ context.Context, e events.Event) {
	select {
	case s.queue <- e:
	default:
		s.dropped.Add(1)
	}
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run turns queued events into deliveries and delivers them until ctx
// ends; then it writes the events still buffered and gives its leased
// deliveries back.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.collect(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(pullCheck):
				s.watchPulls(ctx)
				s.prune(ctx)
			}
		}
	})
	for range s.opt.Workers {
		wg.Go(func() { s.work(ctx) })
	}
	wg.Wait()
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.opt.Store.ReleaseWebhookTasks(rctx, s.opt.Holder); err != nil {
		s.opt.Log.Warn("webhook: giving deliveries back", "err", err)
	}
}

// maxBatch bounds the events written in one transaction; batchWait is
// how long the first event of a batch waits for others: one write
// transaction per batch, rather than per event, leaves the database's
// writer to pushes.
const (
	maxBatch  = 256
	batchWait = 100 * time.Millisecond
)

// collect writes buffered events as executions, in batches.
func (s *Service) collect(ctx context.Context) {
	var reported int64
	for {
		var batch []events.Event
		select {
		case <-ctx.Done():
			// Flush what is buffered, bounded in time.
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for len(s.queue) > 0 && fctx.Err() == nil {
				s.write(fctx, s.take(nil))
			}
			cancel()
			return
		case e := <-s.queue:
			batch = events.Gather(ctx, s.queue, append(batch, e), batchWait, maxBatch)
		}
		s.write(ctx, batch)
		if n := s.dropped.Load(); n != reported {
			s.opt.Log.Warn("webhook: events dropped, the buffer was full", "dropped_total", n, "buffer", s.opt.Buffer)
			reported = n
		}
	}
}

// take adds what is queued to batch, up to maxBatch, without waiting.
func (s *Service) take(batch []events.Event) []events.Event {
	for len(batch) < maxBatch {
		select {
		case e := <-s.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// write stores the executions the events fire.
func (s *Service) write(ctx context.Context, batch []events.Event) {
	policies := map[string][]meta.WebhookPolicy{}
	public := map[string]bool{}
	var out []*meta.WebhookExecution
	for _, e := range batch {
		ps, ok := policies[e.Project]
		if !ok {
			var err error
			if ps, err = s.opt.Store.ProjectWebhookPolicies(ctx, e.Project); err != nil {
				s.opt.Log.Warn("webhook: reading policies; events lost", "project", e.Project, "err", err)
				continue
			}
			policies[e.Project] = ps
			if len(ps) > 0 {
				if p, err := s.opt.Projects.GetProjectByName(ctx, e.Project); err == nil {
					public[e.Project] = p.Public
				}
			}
		}
		for i := range ps {
			if x := s.execution(&ps[i], e, public[e.Project]); x != nil {
				out = append(out, x)
			}
		}
	}
	if len(out) == 0 {
		return
	}
	if err := s.opt.Store.AddWebhookExecutions(ctx, out); err != nil {
		s.opt.Log.Warn("webhook: recording deliveries; events lost", "executions", len(out), "err", err)
		return
	}
	s.poke()
}

// execution is what policy p makes of e, nil if it does not fire.
func (s *Service) execution(p *meta.WebhookPolicy, e events.Event, public bool) *meta.WebhookExecution {
	st, err := decodeStored(p.Policy)
	if err != nil || !st.subscribes(e.Type) || e.Repo != "" && !st.matchRepo(repoInProject(e)) {
		return nil
	}
	tags, ok := st.matchTags(e.Tags)
	if !ok {
		return nil
	}
	body, err := json.Marshal(payloadOf(e, tags, public, s.opt.Host))
	if err != nil {
		return nil
	}
	x := &meta.WebhookExecution{PolicyID: p.ID, EventType: string(e.Type), Trigger: meta.TriggerEvent, Payload: string(body)}
	for i := range st.Targets {
		x.Tasks = append(x.Tasks, meta.WebhookTask{Target: i, OrderKey: orderKey(p.ID, i, e)})
	}
	return x
}

func repoInProject(e events.Event) string {
	if len(e.Repo) > len(e.Project)+1 && e.Repo[:len(e.Project)+1] == e.Project+"/" {
		return e.Repo[len(e.Project)+1:]
	}
	return e.Repo
}

// orderKey groups the deliveries of one policy's target about one
// artifact (else repository, else project): they go in order.
func orderKey(policy int64, target int, e events.Event) string {
	what := e.Project
	switch {
	case e.Repo != "" && e.Digest != "":
		what = e.Repo + "@" + string(e.Digest)
	case e.Repo != "":
		what = e.Repo
	}
	return fmt.Sprintf("%d/%d/%s", policy, target, what)
}

// History is how long finished executions are kept.
const History = 30 * 24 * time.Hour

// prune deletes a bounded number of executions older than History (on
// every replica: deleting twice is harmless).
func (s *Service) prune(ctx context.Context) {
	if _, err := s.opt.Store.PruneWebhookExecutions(ctx, time.Now().Add(-History), 1000); err != nil && ctx.Err() == nil {
		s.opt.Log.Warn("webhook: pruning old executions", "err", err)
	}
}

// Dropped is how many events were dropped because the buffer was full.
func (s *Service) Dropped() int64 { return s.dropped.Load() }

// errPolicyGone: the delivery's policy was deleted meanwhile.
var errPolicyGone = errors.New("webhook policy deleted")
