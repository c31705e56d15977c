package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// immutableRule is Harbor's ImmutableRule. Harbor drops params (and each
// selector's extras) when it stores a rule; berth keeps and returns them.
type immutableRule struct {
	ID             int64                          `json:"id"`
	Priority       int64                          `json:"priority"`
	Disabled       bool                           `json:"disabled"`
	Action         string                         `json:"action"`
	Template       string                         `json:"template"`
	Params         map[string]any                 `json:"params,omitempty"`
	TagSelectors   []immutableSelector            `json:"tag_selectors"`
	ScopeSelectors map[string][]immutableSelector `json:"scope_selectors"`
}

// immutableSelector is Harbor's ImmutableSelector.
type immutableSelector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

func selectorsJSON(sels []meta.ImmutableSelector) []immutableSelector {
	out := make([]immutableSelector, 0, len(sels))
	for _, s := range sels {
		out = append(out, immutableSelector(s))
	}
	return out
}

func selectorsMeta(sels []immutableSelector) []meta.ImmutableSelector {
	if sels == nil {
		return nil
	}
	out := make([]meta.ImmutableSelector, 0, len(sels))
	for _, s := range sels {
		out = append(out, meta.ImmutableSelector(s))
	}
	return out
}

func immutableRuleJSON(r *meta.ImmutableRule) immutableRule {
	out := immutableRule{ID: r.ID, Priority: r.Priority, Disabled: r.Disabled, Action: r.Action, Template: r.Template,
		Params: r.Params, TagSelectors: selectorsJSON(r.TagSelectors), ScopeSelectors: map[string][]immutableSelector{}}
	for k, v := range r.ScopeSelectors {
		out.ScopeSelectors[k] = selectorsJSON(v)
	}
	return out
}

// toMeta is the rule a request body asks for, in project p.
func (b *immutableRule) toMeta(p *meta.Project) *meta.ImmutableRule {
	r := &meta.ImmutableRule{ID: b.ID, ProjectID: p.ID, Priority: b.Priority, Disabled: b.Disabled, Action: b.Action,
		Template: b.Template, Params: b.Params, TagSelectors: selectorsMeta(b.TagSelectors)}
	if b.ScopeSelectors != nil {
		r.ScopeSelectors = make(map[string][]meta.ImmutableSelector, len(b.ScopeSelectors))
		for k, v := range b.ScopeSelectors {
			r.ScopeSelectors[k] = selectorsMeta(v)
		}
	}
	return r
}

// guard is the immutability check over the API's store.
func (s *Server) guard() *immutable.Guard { return immutable.NewGuard(s.opt.Catalog) }

// ruleError answers the store's and the checker's errors about a rule of
// project p.
func ruleError(err error, p *meta.Project) error {
	var ie *immutable.InvalidRuleError
	switch {
	case errors.As(err, &ie):
		return errBadRequest(ie.Reason)
	case errors.Is(err, meta.ErrConflict):
		return errConflict("immutable rule already exists: project " + p.Name + " has a rule with the same selectors")
	case errors.Is(err, meta.ErrRuleLimit):
		return errBadRequest(fmt.Sprintf("project %s has %d immutable rules, the most it may have", p.Name, meta.MaxImmutableRules))
	}
	return err
}

// ruleFor authorizes action in {project_name_or_id} and reads
// {immutable_rule_id}, which must be a rule of that project (404 if not,
// as in Harbor).
func (s *Server) ruleFor(r *http.Request, action rbac.Action) (*meta.Project, *meta.ImmutableRule, error) {
	p, err := s.projectFor(r, "project_name_or_id", action)
	if err != nil {
		return nil, nil, err
	}
	raw := r.PathValue("immutable_rule_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, errBadRequest("immutable_rule_id must be a positive integer")
	}
	rule, err := s.opt.Catalog.ImmutableRule(r.Context(), p.ID, id)
	if isNotFound(err) {
		return nil, nil, errNotFound(fmt.Sprintf("immutable rule %d not found in project %s", id, p.Name))
	}
	return p, rule, err
}

// listImmuRules: GET /projects/{project_name_or_id}/immutabletagrules
// (q and sort keys: id, priority, disabled; by id).
func (s *Server) listImmuRules(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadImmutable)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := s.opt.Catalog.ListImmutableRules(r.Context(), p.ID, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, immutableRuleJSON)
}

// createImmuRule: POST /projects/{project_name_or_id}/immutabletagrules
// answers 201 with the rule's Location.
func (s *Server) createImmuRule(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteImmutable)
	if err != nil {
		return err
	}
	var body immutableRule
	if err := readJSON(r, &body); err != nil {
		return err
	}
	rule := body.toMeta(p)
	rule.ID = 0
	if err := immutable.Check(rule); err != nil {
		return ruleError(err, p)
	}
	if err := s.opt.Catalog.CreateImmutableRule(r.Context(), rule); err != nil {
		if isNotFound(err) { // deleted meanwhile
			return errProjectNotFound(r.PathValue("project_name_or_id"))
		}
		return ruleError(err, p)
	}
	s.record(r.Context(), r, "create", "immutable_rule", ruleResource(p, rule.ID), p)
	return created(w, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(rule.ID, 10))
}

// updateImmuRule: PUT .../immutabletagrules/{immutable_rule_id} replaces
// the rule; Harbor's UI toggles a rule this way. Unlike Harbor, which only
// flips disabled when that changed and ignores the rest of the body, every
// field is applied; a body without tag_selectors or scope_selectors keeps
// the rule's (a bare {"disabled": true} toggles it). The id in the body, if
// any, must be the path's (400 otherwise, as Harbor).
func (s *Server) updateImmuRule(w http.ResponseWriter, r *http.Request) error {
	p, cur, err := s.ruleFor(r, rbac.WriteImmutable)
	if err != nil {
		return err
	}
	var body immutableRule
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.ID != 0 && body.ID != cur.ID {
		return errBadRequest("the immutable_rule_id doesn't match the id in the payload body of ImmutableRule")
	}
	rule := body.toMeta(p)
	rule.ID = cur.ID
	if rule.TagSelectors == nil {
		rule.TagSelectors = cur.TagSelectors
	}
	if rule.ScopeSelectors == nil {
		rule.ScopeSelectors = cur.ScopeSelectors
	}
	if err := immutable.Check(rule); err != nil {
		return ruleError(err, p)
	}
	if err := s.opt.Catalog.UpdateImmutableRule(r.Context(), rule); err != nil {
		if isNotFound(err) { // deleted meanwhile
			return errNotFound(fmt.Sprintf("immutable rule %d not found in project %s", cur.ID, p.Name))
		}
		return ruleError(err, p)
	}
	s.record(r.Context(), r, "update", "immutable_rule", ruleResource(p, rule.ID), p)
	return ok(w)
}

// deleteImmuRule: DELETE .../immutabletagrules/{immutable_rule_id}.
func (s *Server) deleteImmuRule(w http.ResponseWriter, r *http.Request) error {
	p, rule, err := s.ruleFor(r, rbac.WriteImmutable)
	if err != nil {
		return err
	}
	if err := s.opt.Catalog.DeleteImmutableRule(r.Context(), p.ID, rule.ID); err != nil {
		if isNotFound(err) {
			return errNotFound(fmt.Sprintf("immutable rule %d not found in project %s", rule.ID, p.Name))
		}
		return err
	}
	s.record(r.Context(), r, "delete", "immutable_rule", ruleResource(p, rule.ID), p)
	return ok(w)
}

func ruleResource(p *meta.Project, id int64) string {
	return fmt.Sprintf("%s/immutabletagrules/%d", p.Name, id)
}

// errImmutableTag is Harbor's answer to a write refused because of an
// immutable tag: 412 PRECONDITION, with its wording.
func errImmutableTag(e *meta.ImmutableTagError) error {
	what := "updated"
	if e.Delete {
		what = "deleted"
	}
	return errPrecondition(fmt.Sprintf("the tag %s:%s configured as immutable, cannot be %s", e.Repo, e.Tag, what))
}

// markImmutable sets tags[].immutable of arts, all of project p, when on
// (with_immutable_status=true): the rules are read once.
func (s *Server) markImmutable(ctx context.Context, p *meta.Project, arts []artifact, on bool) error {
	if !on {
		return nil
	}
	rs, err := s.guard().Rules(ctx, p.Name)
	if err != nil || rs.Empty() {
		return err
	}
	for i := range arts {
		markTags(rs, arts[i].RepositoryName, arts[i].Tags)
	}
	return nil
}

func markTags(rs immutable.Rules, repo string, tags []tag) {
	_, path := immutable.SplitRepository(repo)
	for i := range tags {
		tags[i].Immutable = rs.Immutable(path, tags[i].Name)
	}
}

// markImmutableTags is markImmutable for the tags of one artifact of repo
// (listTags), reading with_immutable_status itself.
func (s *Server) markImmutableTags(r *http.Request, p *meta.Project, repo string, tags []tag) error {
	on, err := boolParam(r, "with_immutable_status", false)
	if err != nil || !on {
		return err
	}
	rs, err := s.guard().Rules(r.Context(), p.Name)
	if err != nil {
		return err
	}
	markTags(rs, repo, tags)
	return nil
}
