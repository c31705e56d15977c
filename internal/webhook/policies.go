package webhook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// harborTime is Harbor's date-time format.
func harborTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// policyOf is the API's view of a stored policy: write-only values
// redacted, no secret.
func policyOf(row *meta.WebhookPolicy) (*Policy, error) {
	st, err := decodeStored(row.Policy)
	if err != nil {
		return nil, err
	}
	p := &Policy{ID: row.ID, Name: row.Name, Description: row.Description, ProjectID: row.ProjectID, Targets: st.Targets,
		EventTypes: st.EventTypes, Creator: row.Creator, CreationTime: harborTime(row.CreatedAt),
		UpdateTime: harborTime(row.UpdatedAt), Enabled: row.Enabled, RepositoryFilters: st.RepositoryFilters, TagFilters: st.TagFilters}
	for i := range p.Targets {
		if p.Targets[i].AuthHeader != "" {
			p.Targets[i].AuthHeader = Redacted
		}
	}
	return p, nil
}

// encode is the stored form of p, auth headers sealed; an auth header
// sent back Redacted keeps the one of prev (the stored policy) at the
// same address.
func (s *Service) encode(p *Policy, prev *stored) (string, error) {
	st := stored{EventTypes: p.EventTypes, Targets: append([]Target(nil), p.Targets...),
		RepositoryFilters: p.RepositoryFilters, TagFilters: p.TagFilters}
	for i := range st.Targets {
		t := &st.Targets[i]
		switch {
		case t.AuthHeader == Redacted:
			t.AuthHeader = ""
			if prev != nil {
				for _, o := range prev.Targets {
					if o.Address == t.Address && o.Type == t.Type {
						t.AuthHeader = o.AuthHeader
					}
				}
			}
		case t.AuthHeader != "":
			t.AuthHeader = s.opt.Sealer.Seal(t.AuthHeader)
		}
	}
	b, err := json.Marshal(st)
	return string(b), err
}

// Create stores p (checked with Check) in project projectID by creator;
// p.ID is set, and p.Secret to the signing secret (generated unless
// given), which is never returned again.
func (s *Service) Create(ctx context.Context, projectID int64, p *Policy, creator string) error {
	if err := Check(p); err != nil {
		return err
	}
	text, err := s.encode(p, nil)
	if err != nil {
		return err
	}
	if p.Secret == "" {
		p.Secret = newSecret()
	}
	row := &meta.WebhookPolicy{ProjectID: projectID, Name: p.Name, Description: p.Description, Enabled: p.Enabled,
		Policy: text, Secret: s.opt.Sealer.Seal(p.Secret), Creator: creator}
	if err := s.opt.Store.CreateWebhookPolicy(ctx, row); err != nil {
		return err
	}
	p.ID, p.ProjectID, p.Creator = row.ID, projectID, creator
	s.watchPulls(ctx)
	return nil
}

// Get returns policy id as the API shows it; meta.ErrNotFound.
func (s *Service) Get(ctx context.Context, id int64) (*Policy, error) {
	row, err := s.opt.Store.WebhookPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	return policyOf(row)
}

// List lists a project's policies as the API shows them.
func (s *Service) List(ctx context.Context, projectID int64, q meta.ListQuery) ([]Policy, int64, error) {
	rows, total, err := s.opt.Store.WebhookPolicies(ctx, projectID, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Policy, 0, len(rows))
	for i := range rows {
		p, err := policyOf(&rows[i])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *p)
	}
	return out, total, nil
}

// Update replaces policy id with p (checked; a Secret given replaces
// the signing secret).
func (s *Service) Update(ctx context.Context, id int64, p *Policy) error {
	if err := Check(p); err != nil {
		return err
	}
	row, err := s.opt.Store.WebhookPolicy(ctx, id)
	if err != nil {
		return err
	}
	prev, err := decodeStored(row.Policy)
	if err != nil {
		return err
	}
	text, err := s.encode(p, prev)
	if err != nil {
		return err
	}
	upd := &meta.WebhookPolicy{ID: id, Name: p.Name, Description: p.Description, Enabled: p.Enabled, Policy: text}
	if p.Secret != "" {
		upd.Secret = s.opt.Sealer.Seal(p.Secret)
	}
	if err := s.opt.Store.UpdateWebhookPolicy(ctx, upd); err != nil {
		return err
	}
	s.watchPulls(ctx)
	return nil
}

// Delete removes policy id with its deliveries.
func (s *Service) Delete(ctx context.Context, id int64) error {
	return s.opt.Store.DeleteWebhookPolicy(ctx, id)
}

// testDigest is the digest of the sample artifact a test delivery names.
const testDigest = digest.Digest("sha256:0000000000000000000000000000000000000000000000000000000000000000")

// Test queues a delivery of a sample event (a push of
// PROJECT/berth-webhook-test:test, of the policy's first event type) to
// every target of policy p, not retried, and returns its execution id.
func (s *Service) Test(ctx context.Context, p *Policy, project, operator string) (int64, error) {
	typ := events.PushArtifact
	if len(p.EventTypes) > 0 {
		typ = events.Type(p.EventTypes[0])
	}
	e := events.Event{Type: typ, At: time.Now(), Operator: operator, Project: project, Repo: project + "/berth-webhook-test",
		Digest: testDigest, Tags: []string{"test"}}
	body, err := json.Marshal(payloadOf(e, e.Tags, false, s.opt.Host))
	if err != nil {
		return 0, err
	}
	x := &meta.WebhookExecution{PolicyID: p.ID, EventType: string(typ), Trigger: meta.TriggerManual, Payload: string(body)}
	for i := range p.Targets {
		// A key of its own: a test is not held up by a backlog.
		x.Tasks = append(x.Tasks, meta.WebhookTask{Target: i, OrderKey: "test/" + orderKey(p.ID, i, e) + "/" + time.Now().Format(time.RFC3339Nano)})
	}
	if err := s.opt.Store.AddWebhookExecutions(ctx, []*meta.WebhookExecution{x}); err != nil {
		return 0, err
	}
	if x.ID == 0 {
		return 0, meta.ErrNotFound
	}
	s.poke()
	return x.ID, nil
}

// Store is the service's store (the API reads executions and tasks
// from it).
func (s *Service) Store() meta.WebhookStore { return s.opt.Store }
