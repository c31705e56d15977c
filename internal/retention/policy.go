// Package retention is tag retention: a project's policy (Harbor's
// RetentionPolicy JSON, kept as given), which artifacts of a repository it
// keeps (the OR of its rules, each a tag selection and a template), and the
// job that applies it, one task per repository, with Harbor's log table and
// a dry run that says exactly what would go and what it would free.
//
// What a policy means (Harbor's src/pkg/retention):
//   - A repository that no enabled rule's repository selectors select is
//     left alone. In one that some rule selects, an artifact is kept only if
//     one of those rules retains it: everything else is deleted.
//   - Candidates are artifacts, not tags: tagged manifests, and untagged
//     ones that no index references. Accessories (signatures, SBOMs) and
//     the children of an index are not candidates: they live and die with
//     their parent.
//   - A rule selects candidates with its tag selectors (each in turn, so
//     they are ANDed) and keeps some of them by its template, counted per
//     repository.
//   - An artifact with an immutable tag is never deleted (IMMUTABLE).
//
// Where berth differs from Harbor, keeping its JSON:
//   - A policy is checked when it is stored (templates, parameters,
//     selectors, cron), not when it first runs; unknown templates and
//     selector decorations are refused rather than failing every run, and a
//     rule must have a tag selector (Harbor silently skips a rule without
//     one, which deletes everything its repositories hold).
//   - For the pull-based templates an artifact never pulled counts as pulled
//     when it was pushed (Harbor deletes never-pulled artifacts first).
//   - Pulls made by berth itself never move pull times (internal/pullstats).
//   - Scheduled policies are spread over a few minutes rather than all
//     started in the same second.
package retention

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/jobs"
)

// The fixed values of a policy (Harbor's).
const (
	Algorithm       = "or"
	TriggerSchedule = "Schedule"
	ScopeProject    = "project"
	ActionRetain    = "retain"
	ScopeRepository = "repository"
	// SettingCron is the trigger setting holding the cron expression ("":
	// run by hand only); SettingNextRun is reported, never read.
	SettingCron    = "cron"
	SettingNextRun = "next_scheduled_time"
)

// MaxRules bounds the rules of a policy (Harbor's 15).
const MaxRules = 15

// The rule templates. The last three are not offered by the metadata
// (Harbor registers latestActiveK and lastXDays without listing them, and
// has "nothing" unregistered); berth accepts them all.
const (
	LatestPushedK      = "latestPushedK"
	LatestPulledN      = "latestPulledN"
	NDaysSinceLastPush = "nDaysSinceLastPush"
	NDaysSinceLastPull = "nDaysSinceLastPull"
	Always             = "always"
	LatestActiveK      = "latestActiveK"
	LastXDays          = "lastXDays"
	Nothing            = "nothing"
)

// paramKind is what a template's parameter counts.
type paramKind int

const (
	noParam paramKind = iota
	countParam
	daysParam
)

// templates maps each template to its parameter (keyed by the template's
// own name, as Harbor does).
var templates = map[string]paramKind{
	LatestPushedK:      countParam,
	LatestPulledN:      countParam,
	NDaysSinceLastPush: daysParam,
	NDaysSinceLastPull: daysParam,
	Always:             noParam,
	LatestActiveK:      countParam,
	LastXDays:          daysParam,
	Nothing:            noParam,
}

// Harbor's bounds on parameters: a count below 32767, days at most
// 20190904.
const (
	MaxCount = math.MaxInt16 - 1
	MaxDays  = 20190904
)

// Policy is Harbor's RetentionPolicy.
type Policy struct {
	ID        int64    `json:"id"`
	Algorithm string   `json:"algorithm"`
	Rules     []Rule   `json:"rules"`
	Trigger   *Trigger `json:"trigger"`
	Scope     *Scope   `json:"scope"`
}

// Rule is Harbor's RetentionRule.
type Rule struct {
	ID             int64                 `json:"id"`
	Priority       int64                 `json:"priority"`
	Disabled       bool                  `json:"disabled"`
	Action         string                `json:"action"`
	Template       string                `json:"template"`
	Params         map[string]any        `json:"params"`
	TagSelectors   []Selector            `json:"tag_selectors"`
	ScopeSelectors map[string][]Selector `json:"scope_selectors"`
}

// Selector is Harbor's RetentionSelector. Extras is a JSON object in a
// string: {"untagged": bool} for tag selectors.
type Selector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

// Trigger is Harbor's RetentionRuleTrigger: always kind "Schedule", its
// settings holding the cron. Harbor keeps no references (the UI sends
// {}): they are read and not returned, as in Harbor.
type Trigger struct {
	Kind       string         `json:"kind"`
	Settings   map[string]any `json:"settings"`
	References any            `json:"references,omitempty"`
}

// Scope is Harbor's RetentionPolicyScope: level "project", ref its id.
type Scope struct {
	Level string `json:"level"`
	Ref   int64  `json:"ref"`
}

// Cron is the policy's cron expression ("" for none).
func (p *Policy) Cron() string {
	if p.Trigger == nil {
		return ""
	}
	s, _ := p.Trigger.Settings[SettingCron].(string)
	return s
}

// InvalidError says why a policy cannot be stored: the API answers 400.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return e.Reason }

// ConflictError: two rules of a policy are the same (Harbor's 409).
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// Check validates p as the API accepts it and puts it in the form stored:
// the trigger's settings keep only the cron (next_scheduled_time is the
// server's to report), references are dropped, and each selector gets
// Harbor's defaults (kind doublestar). A cron expression follows Harbor's
// rules (jobs.ValidateCron: six fields, seconds 0). It returns an
// *InvalidError or a *ConflictError.
func Check(p *Policy) error {
	if p.Algorithm != Algorithm {
		return invalid("algorithm must be %q, not %q", Algorithm, p.Algorithm)
	}
	if len(p.Rules) > MaxRules {
		return invalid("only %d rules are allowed at most", MaxRules)
	}
	if p.Scope == nil {
		return invalid("scope is required: {\"level\": \"project\", \"ref\": PROJECT_ID}")
	}
	if p.Scope.Level != ScopeProject {
		return invalid("scope %s is not support", p.Scope.Level)
	}
	if err := checkTrigger(p); err != nil {
		return err
	}
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	for i := range p.Rules {
		if err := checkRule(&p.Rules[i], i); err != nil {
			return err
		}
	}
	return checkConflicts(p.Rules)
}

func checkTrigger(p *Policy) error {
	t := p.Trigger
	if t == nil {
		return invalid("trigger is required: {\"kind\": \"Schedule\", \"settings\": {\"cron\": \"\"}}")
	}
	if t.Kind != TriggerSchedule {
		return invalid("trigger.kind must be %q, not %q", TriggerSchedule, t.Kind)
	}
	cron := ""
	for k, v := range t.Settings {
		switch k {
		case SettingCron:
			s, ok := v.(string)
			if !ok {
				return invalid("invalid cron type for scheduled tag retention: must be a string")
			}
			cron = strings.TrimSpace(s)
		case SettingNextRun: // echoed back by clients: the server's
		default:
			return invalid("trigger.settings: unknown setting %q (only %q)", k, SettingCron)
		}
	}
	if cron != "" {
		if err := jobs.ValidateCron(cron); err != nil {
			return invalid("invalid cron string for scheduled tag retention: %s, error: %v", cron, err)
		}
	}
	p.Trigger = &Trigger{Kind: TriggerSchedule, Settings: map[string]any{SettingCron: cron}}
	return nil
}

func checkRule(r *Rule, i int) error {
	at := fmt.Sprintf("rules[%d]", i)
	if r.Action != ActionRetain {
		return invalid("%s.action must be %q, not %q", at, ActionRetain, r.Action)
	}
	kind, ok := templates[r.Template]
	if !ok {
		return invalid("%s: rule evaluator %s is not registered (templates: %s)", at, r.Template,
			strings.Join(slices.Sorted(maps.Keys(templates)), ", "))
	}
	if r.Params == nil {
		r.Params = map[string]any{}
	}
	if kind != noParam {
		if err := checkParam(r, kind); err != nil {
			return invalid("%s: %v", at, err)
		}
	}
	if len(r.TagSelectors) == 0 {
		return invalid("%s.tag_selectors: a rule needs a tag selector (kind %q, decoration %q or %q)", at, Kind, Matches, Excludes)
	}
	if err := checkSelectors(at+".tag_selectors", r.TagSelectors, Matches, Excludes); err != nil {
		return err
	}
	for k, sels := range r.ScopeSelectors {
		if k != ScopeRepository {
			return invalid("%s.scope_selectors: %q is not supported (only %q)", at, k, ScopeRepository)
		}
		if err := checkSelectors(at+".scope_selectors.repository", sels, RepoMatches, RepoExcludes); err != nil {
			return err
		}
	}
	return nil
}

// checkParam checks the template's parameter: present, an integer in
// range. (Harbor checks the type only of some templates, and falls back
// to a default when the value cannot be read.)
func checkParam(r *Rule, kind paramKind) error {
	v, ok := r.Params[r.Template]
	if !ok {
		return fmt.Errorf("missing required parameter %s for rule %s", r.Template, r.Template)
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		return fmt.Errorf("%s type error: want an integer", r.Template)
	}
	limit := float64(MaxCount)
	if kind == daysParam {
		limit = MaxDays
	}
	switch {
	case f < 0:
		return fmt.Errorf("%s is less than zero", r.Template)
	case f > limit:
		return fmt.Errorf("%s is too large (at most %d)", r.Template, int64(limit))
	}
	return nil
}

// param is the integer parameter of a checked rule.
func (r *Rule) param() int {
	f, _ := r.Params[r.Template].(float64)
	return int(f)
}

// checkConflicts refuses two rules that are the same but for their id
// (Harbor's checkRuleConflict, its message numbering rules from 0).
func checkConflicts(rules []Rule) error {
	seen := map[string]int{}
	for i, r := range rules {
		r.ID = 0
		b, err := json.Marshal(r)
		if err != nil {
			return invalid("rules[%d]: %v", i, err)
		}
		key := string(b)
		if j, ok := seen[key]; ok {
			return &ConflictError{Reason: fmt.Sprintf("rule %d is conflict with rule %d", i, j)}
		}
		seen[key] = i
	}
	return nil
}

// Marshal is the JSON stored for p.
func Marshal(p *Policy) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return "", err
	}
	return strings.TrimSpace(buf.String()), nil
}

// Unmarshal reads a stored policy.
func Unmarshal(s string) (*Policy, error) {
	var p Policy
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("stored retention policy: %w", err)
	}
	return &p, nil
}
