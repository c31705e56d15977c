package retention

import (
	"context"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// Event is the Detail of the TAG_RETENTION event a real run publishes per
// repository that lost artifacts (Harbor sends it per task, never for a
// dry run, only when something was deleted); webhooks turn it into
// Harbor's event_data.retention.
type Event struct {
	Project  string
	PolicyID int64
	Total    int
	Retained int
	Rules    []Rule
	Deleted  []Deletion
	Repo     string // the repository, within the project
}

// EventData implements webhook.EventDataer: Harbor's shape
// (src/pkg/notifier/model: RetentionEvent), result always "SUCCESS" as
// Harbor's callback sends it.
func (e Event) EventData() map[string]any {
	rules := make([]map[string]any, 0, len(e.Rules))
	for _, r := range e.Rules {
		rules = append(rules, map[string]any{"template": r.Template, "params": r.Params,
			"tag_selectors": r.TagSelectors, "scope_selectors": r.ScopeSelectors})
	}
	deleted := make([]map[string]any, 0, len(e.Deleted))
	for _, d := range e.Deleted {
		name := e.Project + "/" + e.Repo + "@" + string(d.Digest)
		if len(d.Tags) > 0 {
			name = e.Project + "/" + e.Repo + ":" + d.Tags[0]
		}
		deleted = append(deleted, map[string]any{"type": "artifact", "status": "SUCCESS", "name_tag": name})
	}
	return map[string]any{"retention": map[string]any{"total": e.Total, "retained": e.Retained, "project_name": e.Project,
		"retention_policy_id": e.PolicyID, "result": "SUCCESS", "retention_rule": rules, "deleted_artifact": deleted}}
}

// publish tells the event bus of a real run's deletions in one
// repository.
func (r *Runner) publish(ctx context.Context, p *Policy, project *meta.Project, rt repoTask, attrs *TaskAttrs) {
	if !r.Events.Wants(events.TagRetention) {
		return
	}
	r.Events.Publish(events.WithInternal(ctx), events.Event{Type: events.TagRetention, Operator: AuditUser,
		Project: project.Name, Repo: rt.repo, Detail: Event{Project: project.Name, PolicyID: p.ID, Total: attrs.Total,
			Retained: attrs.Retained, Rules: p.Rules, Deleted: attrs.Deleted, Repo: rt.path}})
}
