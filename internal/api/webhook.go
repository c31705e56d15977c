package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/webhook"
)

// Webhooks (Harbor's tag "webhook"): a project's policies, the events and
// notify types they may use, their executions (one per event), tasks (one
// per target: the delivery, with its HTTP status) and logs. Permissions
// are Harbor's notification-policy resource: project admins, maintainers
// read.
//
// Where berth differs from Harbor, keeping its shapes: create answers the
// policy with its signing secret (the only time it is shown) besides the
// Location; auth headers read back as "*****" (sent back so, they stay);
// berth's filters and notify types (dingtalk, teams); berth's
// POST .../policies/{id}/test sends a sample event to every target once.

// webhooks is the service, or 503 when it does not run here.
func (s *Server) webhooks() (*webhook.Service, error) {
	if s.opt.Webhooks == nil {
		return nil, errNotRunning("webhooks are not enabled")
	}
	return s.opt.Webhooks, nil
}

// webhookPolicyFor authorizes action in {project_name_or_id} and reads
// {webhook_policy_id}, which must be a policy of that project (404 if not).
func (s *Server) webhookPolicyFor(r *http.Request, action rbac.Action) (*webhook.Service, *meta.Project, *webhook.Policy, error) {
	svc, err := s.webhooks()
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := s.projectFor(r, "project_name_or_id", action)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := pathID(r, "webhook_policy_id")
	if err != nil {
		return nil, nil, nil, err
	}
	pol, err := svc.Get(r.Context(), id)
	if isNotFound(err) || err == nil && pol.ProjectID != p.ID {
		return nil, nil, nil, errNotFound(fmt.Sprintf("webhook policy %d not found in project %s", id, p.Name))
	}
	return svc, p, pol, err
}

// webhookError answers the service's errors about a policy.
func webhookError(err error, name string) error {
	var inv *webhook.InvalidError
	switch {
	case errors.As(err, &inv):
		return errBadRequest(inv.Reason)
	case errors.Is(err, meta.ErrConflict):
		return errConflict(fmt.Sprintf("webhook policy %q already exists in the project", name))
	}
	return err
}

// listWebhookPoliciesOfProject: GET /projects/{p}/webhook/policies (q and
// sort keys: id, name, enabled, creation_time, update_time).
func (s *Server) listWebhookPoliciesOfProject(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadWebhook)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := svc.List(r.Context(), p.ID, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, func(p *webhook.Policy) *webhook.Policy { return p })
}

// createWebhookPolicyOfProject: POST /projects/{p}/webhook/policies: 201
// with the Location, and the policy with its secret as the body.
func (s *Server) createWebhookPolicyOfProject(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteWebhook)
	if err != nil {
		return err
	}
	var pol webhook.Policy
	if err := readJSON(r, &pol); err != nil {
		return err
	}
	ctx := r.Context()
	if err := svc.Create(ctx, p.ID, &pol, auth.FromContext(ctx).Name); err != nil {
		return webhookError(err, pol.Name)
	}
	s.record(ctx, r, "create", "webhook_policy", pol.Name, p)
	stored, err := svc.Get(ctx, pol.ID)
	if err != nil {
		return err
	}
	stored.Secret = pol.Secret
	w.Header().Set("Location", fmt.Sprintf("%s/projects/%d/webhook/policies/%d", Prefix, p.ID, pol.ID))
	return writeJSON(w, http.StatusCreated, stored)
}

// getWebhookPolicyOfProject: GET /projects/{p}/webhook/policies/{id}.
func (s *Server) getWebhookPolicyOfProject(w http.ResponseWriter, r *http.Request) error {
	_, _, pol, err := s.webhookPolicyFor(r, rbac.ReadWebhook)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pol)
}

// updateWebhookPolicyOfProject: PUT /projects/{p}/webhook/policies/{id}
// replaces the policy (a "secret" in the body replaces the signing
// secret).
func (s *Server) updateWebhookPolicyOfProject(w http.ResponseWriter, r *http.Request) error {
	svc, p, cur, err := s.webhookPolicyFor(r, rbac.WriteWebhook)
	if err != nil {
		return err
	}
	var pol webhook.Policy
	if err := readJSON(r, &pol); err != nil {
		return err
	}
	ctx := r.Context()
	if err := svc.Update(ctx, cur.ID, &pol); err != nil {
		return webhookError(err, pol.Name)
	}
	s.record(ctx, r, "update", "webhook_policy", pol.Name, p)
	return ok(w)
}

// deleteWebhookPolicyOfProject: DELETE /projects/{p}/webhook/policies/{id},
// with its executions and pending deliveries.
func (s *Server) deleteWebhookPolicyOfProject(w http.ResponseWriter, r *http.Request) error {
	svc, p, cur, err := s.webhookPolicyFor(r, rbac.WriteWebhook)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := svc.Delete(ctx, cur.ID); isNotFound(err) {
		return errNotFound(fmt.Sprintf("webhook policy %d not found", cur.ID))
	} else if err != nil {
		return err
	}
	s.record(ctx, r, "delete", "webhook_policy", cur.Name, p)
	return ok(w)
}

// testWebhookPolicyOfProject: POST /projects/{p}/webhook/policies/{id}/test
// (berth's) queues a sample event to every target, tried once: 201 with
// the execution's Location (its tasks say what each target answered).
func (s *Server) testWebhookPolicyOfProject(w http.ResponseWriter, r *http.Request) error {
	svc, p, cur, err := s.webhookPolicyFor(r, rbac.WriteWebhook)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id, err := svc.Test(ctx, cur, p.Name, auth.FromContext(ctx).Name)
	if isNotFound(err) {
		return errNotFound(fmt.Sprintf("webhook policy %d not found", cur.ID))
	} else if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("%s/projects/%d/webhook/policies/%d/executions/%d", Prefix, p.ID, cur.ID, id))
}

// supportedEventTypes is Harbor's SupportedWebhookEventTypes.
type supportedEventTypes struct {
	EventType      []string        `json:"event_type"`
	NotifyType     []string        `json:"notify_type"`
	PayloadFormats []payloadFormat `json:"payload_formats"`
}

type payloadFormat struct {
	NotifyType string   `json:"notify_type"`
	Formats    []string `json:"formats"`
}

// getSupportedEventTypes: GET /projects/{p}/webhook/events.
func (s *Server) getSupportedEventTypes(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.projectFor(r, "project_name_or_id", rbac.ReadWebhook); err != nil {
		return err
	}
	out := supportedEventTypes{EventType: []string{}, NotifyType: []string{}, PayloadFormats: []payloadFormat{}}
	for _, t := range webhook.EventTypes {
		out.EventType = append(out.EventType, string(t))
	}
	for _, n := range webhook.NotifyTypes {
		out.NotifyType = append(out.NotifyType, n.Type)
		if n.Formats != nil {
			out.PayloadFormats = append(out.PayloadFormats, payloadFormat{NotifyType: n.Type, Formats: n.Formats})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// webhookLastTrigger is Harbor's WebhookLastTrigger.
type webhookLastTrigger struct {
	PolicyName      string `json:"policy_name"`
	EventType       string `json:"event_type"`
	Enabled         bool   `json:"enabled"`
	CreationTime    string `json:"creation_time"`
	LastTriggerTime string `json:"last_trigger_time,omitempty"`
}

// lastTrigger: GET /projects/{p}/webhook/lasttrigger (deprecated in
// Harbor): each policy and event type with when it last fired.
func (s *Server) lastTrigger(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadWebhook)
	if err != nil {
		return err
	}
	ctx := r.Context()
	pols, _, err := svc.List(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize}})
	if err != nil {
		return err
	}
	last, err := svc.Store().WebhookLastTriggers(ctx, p.ID)
	if err != nil {
		return err
	}
	at := map[string]string{}
	for _, l := range last {
		at[fmt.Sprintf("%d/%s", l.PolicyID, l.EventType)] = jobTime(l.At)
	}
	out := []webhookLastTrigger{}
	for _, pol := range pols {
		for _, t := range pol.EventTypes {
			out = append(out, webhookLastTrigger{PolicyName: pol.Name, EventType: t, Enabled: pol.Enabled,
				CreationTime: pol.CreationTime, LastTriggerTime: at[fmt.Sprintf("%d/%s", pol.ID, t)]})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// webhookExecutionOf is an execution as Harbor's Execution: vendor
// WEBHOOK, the event type and payload in extra_attrs.
func webhookExecutionOf(e *meta.WebhookExecution) execution {
	return execution{ID: e.ID, VendorType: "WEBHOOK", VendorID: e.PolicyID, Status: e.Status, Trigger: e.Trigger,
		ExtraAttrs: map[string]any{"event_type": e.EventType, "payload": e.Payload},
		StartTime:  jobTime(e.CreatedAt), EndTime: jobTime(e.EndedAt)}
}

// listExecutionsOfWebhookPolicy: GET .../policies/{id}/executions, newest
// first (q and sort keys: id, status, trigger, event_type, creation_time,
// start_time, update_time, end_time).
func (s *Server) listExecutionsOfWebhookPolicy(w http.ResponseWriter, r *http.Request) error {
	svc, _, pol, err := s.webhookPolicyFor(r, rbac.ReadWebhook)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := svc.Store().WebhookExecutions(r.Context(), pol.ID, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, webhookExecutionOf)
}

// webhookExecutionFor reads {execution_id} of the policy.
func (s *Server) webhookExecutionFor(r *http.Request) (*webhook.Service, *meta.WebhookExecution, error) {
	svc, _, pol, err := s.webhookPolicyFor(r, rbac.ReadWebhook)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "execution_id")
	if err != nil {
		return nil, nil, err
	}
	x, err := svc.Store().WebhookExecution(r.Context(), id)
	if isNotFound(err) || err == nil && x.PolicyID != pol.ID {
		return nil, nil, errNotFound(fmt.Sprintf("execution %d not found for webhook policy %d", id, pol.ID))
	}
	return svc, x, err
}

// webhookTaskOf is a delivery as Harbor's Task: the HTTP status of its
// last attempt and when it is tried next in extra_attrs.
func webhookTaskOf(t *meta.WebhookTask) task {
	attrs := map[string]any{"status_code": t.LastCode, "target": t.Target}
	if t.Status == meta.JobPending && t.RunCount > 0 {
		attrs["next_attempt_time"] = jobTime(t.NextAt)
	}
	return task{ID: t.ID, ExecutionID: t.ExecutionID, Status: t.Status, StatusMessage: t.StatusMessage, RunCount: t.RunCount,
		ExtraAttrs: attrs, CreationTime: jobTime(t.CreatedAt), UpdateTime: jobTime(t.UpdatedAt), StartTime: jobTime(t.StartedAt),
		EndTime: jobTime(t.EndedAt)}
}

// listTasksOfWebhookExecution: GET .../executions/{execution_id}/tasks
// (q and sort keys: id, status, creation_time, start_time, end_time,
// update_time).
func (s *Server) listTasksOfWebhookExecution(w http.ResponseWriter, r *http.Request) error {
	svc, x, err := s.webhookExecutionFor(r)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := svc.Store().WebhookTasks(r.Context(), x.ID, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, webhookTaskOf)
}

// getLogsOfWebhookTask: GET .../tasks/{task_id}/log: each attempt, with
// the payload sent first (text/plain).
func (s *Server) getLogsOfWebhookTask(w http.ResponseWriter, r *http.Request) error {
	svc, x, err := s.webhookExecutionFor(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "task_id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	t, err := svc.Store().WebhookTask(ctx, id)
	if isNotFound(err) || err == nil && t.ExecutionID != x.ID {
		return errNotFound(fmt.Sprintf("task %d not found in execution %d", id, x.ID))
	}
	if err != nil {
		return err
	}
	text, err := svc.Store().WebhookTaskLog(ctx, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write([]byte(text))
	return err
}

// webhookJob is Harbor's deprecated WebhookJob: a task with its payload.
type webhookJob struct {
	ID           int64      `json:"id"`
	PolicyID     int64      `json:"policy_id"`
	EventType    string     `json:"event_type"`
	NotifyType   string     `json:"notify_type"`
	Status       string     `json:"status"`
	JobDetail    string     `json:"job_detail"`
	CreationTime harborTime `json:"creation_time"`
	UpdateTime   harborTime `json:"update_time"`
}

// listWebhookJobs: GET /projects/{p}/webhook/jobs?policy_id=&status=
// (deprecated in Harbor, tag webhookjob): the deliveries of a policy,
// newest first; status takes several values, repeated or comma-separated.
func (s *Server) listWebhookJobs(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadWebhook)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.URL.Query().Get("policy_id"), 10, 64)
	if err != nil || id <= 0 {
		return errBadRequest("policy_id must be a positive integer")
	}
	pol, err := svc.Get(r.Context(), id)
	if isNotFound(err) || err == nil && pol.ProjectID != p.ID {
		return errNotFound(fmt.Sprintf("webhook policy %d not found in project %s", id, p.Name))
	} else if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	var statuses []string
	for _, v := range r.URL.Query()["status"] {
		for _, st := range strings.Split(v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				statuses = append(statuses, st)
			}
		}
	}
	if len(statuses) > 0 {
		lq = lq.With(meta.Cond{Key: "status", Op: meta.AnyOf, Values: statuses})
	}
	list, total, err := svc.Store().WebhookJobs(r.Context(), id, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, func(j *meta.WebhookJob) webhookJob {
		notify := ""
		if j.Target < len(pol.Targets) {
			notify = pol.Targets[j.Target].Type
		}
		return webhookJob{ID: j.ID, PolicyID: id, EventType: j.EventType, NotifyType: notify, Status: j.Status,
			JobDetail: j.Payload, CreationTime: harborTime(j.CreatedAt), UpdateTime: harborTime(j.UpdatedAt)}
	})
}
