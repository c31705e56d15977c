// Package immutable is tag immutability: the rules of a project (Harbor's
// ImmutableRule, kept by meta.ImmutableStore), which tags they protect, and
// the check the registry, the management API and retention use before a
// tag is moved or deleted.
//
// A tag is immutable when an enabled rule of its project matches it: the
// rule's repository selectors match the repository (its path without the
// project, "app/api" for "proj/app/api") and its tag selectors match the
// tag's name. Selectors are doublestar patterns (github.com/bmatcuk/
// doublestar, as in Harbor): "*" stays within a path segment, "**" crosses
// them, "{a,b}" is either, "matches"/"repoMatches" select what matches and
// "excludes"/"repoExcludes" what does not; an empty pattern matches
// everything. An immutable tag may be created, and pushed again with the
// digest it has (a CI retry succeeds), but not moved to another digest nor
// deleted, nor the artifact or repository under it.
//
// Where this differs from Harbor (src/pkg/immutable/match/rule/match.go):
// Harbor reads only the first tag selector and the first repository
// selector of a rule and ignores the others; here every selector of a rule
// must select (they are ANDed, as retention applies a rule's selectors one
// after the other). Harbor refuses re-pushing identical content to an
// immutable tag; here the same digest is accepted.
package immutable

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/berth-registry/berth/internal/meta"
)

// The values of an ImmutableRule and its selectors (Harbor's).
const (
	Action          = "immutable"
	Template        = "immutable_template"
	Kind            = "doublestar"
	Matches         = "matches"
	Excludes        = "excludes"
	RepoMatches     = "repoMatches"
	RepoExcludes    = "repoExcludes"
	ScopeRepository = "repository"
)

// Bounds on a rule. A rule is matched on every push and delete of a tag in
// its project, so a pattern's cost is bounded: its length, and the number
// of ways its {a,b} alternatives combine (each is tried in turn).
const (
	MaxSelectors    = 10
	MaxPatternLen   = 256
	MaxAlternatives = 256
	MaxExtrasLen    = 1024
	MaxParamsLen    = 4096
)

// InvalidRuleError says why a rule cannot be stored; the API answers 400.
type InvalidRuleError struct{ Reason string }

func (e *InvalidRuleError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidRuleError{Reason: fmt.Sprintf(format, args...)}
}

// Check validates r as the API accepts it, filling Harbor's defaults for
// what the client left empty (action, template, selector kinds). It
// returns an *InvalidRuleError naming the first problem.
func Check(r *meta.ImmutableRule) error {
	if r.Action == "" {
		r.Action = Action
	}
	if r.Action != Action {
		return invalid("action must be %q, not %q", Action, r.Action)
	}
	if r.Template == "" {
		r.Template = Template
	}
	if r.Template != Template {
		return invalid("template must be %q, not %q", Template, r.Template)
	}
	if err := checkSelectors("tag_selectors", r.TagSelectors, Matches, Excludes); err != nil {
		return err
	}
	for k := range r.ScopeSelectors {
		if k != ScopeRepository {
			return invalid("scope_selectors: %q is not supported (only %q)", k, ScopeRepository)
		}
	}
	if err := checkSelectors("scope_selectors.repository", r.ScopeSelectors[ScopeRepository], RepoMatches, RepoExcludes); err != nil {
		return err
	}
	if r.Params != nil {
		b, err := json.Marshal(r.Params)
		if err != nil || len(b) > MaxParamsLen {
			return invalid("params: at most %d bytes of JSON", MaxParamsLen)
		}
	}
	return nil
}

func checkSelectors(field string, sels []meta.ImmutableSelector, decorations ...string) error {
	if len(sels) == 0 {
		return invalid("%s: a rule needs a selector (a pattern of %q decorated %s)", field, Kind, strings.Join(decorations, " or "))
	}
	if len(sels) > MaxSelectors {
		return invalid("%s: at most %d selectors", field, MaxSelectors)
	}
	for i := range sels {
		s := &sels[i]
		at := fmt.Sprintf("%s[%d]", field, i)
		if s.Kind == "" {
			s.Kind = Kind
		}
		if s.Kind != Kind {
			return invalid("%s.kind must be %q, not %q", at, Kind, s.Kind)
		}
		if s.Decoration != decorations[0] && s.Decoration != decorations[1] {
			return invalid("%s.decoration must be %q or %q, not %q", at, decorations[0], decorations[1], s.Decoration)
		}
		if err := CheckPattern(s.Pattern); err != nil {
			return invalid("%s.pattern %q: %v", at, s.Pattern, err)
		}
		if len(s.Extras) > MaxExtrasLen || s.Extras != "" && !isJSONObject(s.Extras) {
			return invalid("%s.extras must be a JSON object in a string, of at most %d bytes", at, MaxExtrasLen)
		}
	}
	return nil
}

func isJSONObject(s string) bool {
	var v map[string]any
	return json.Unmarshal([]byte(s), &v) == nil
}

// CheckPattern validates a doublestar pattern and bounds its cost (tag
// retention's selectors are checked by it too).
func CheckPattern(p string) error {
	if len(p) > MaxPatternLen {
		return fmt.Errorf("longer than %d bytes", MaxPatternLen)
	}
	if !doublestar.ValidatePattern(p) {
		return fmt.Errorf("not a valid doublestar pattern")
	}
	if alternatives(p) > MaxAlternatives {
		return fmt.Errorf("its {a,b} alternatives combine in more than %d ways", MaxAlternatives)
	}
	return nil
}

// alternatives bounds the number of brace-free patterns p expands to: the
// product, over its {…} groups (nested ones included), of their number of
// alternatives.
func alternatives(p string) int {
	n := 1
	var stack []int // alternatives of each open group
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			stack = append(stack, 1)
		case ',':
			if len(stack) > 0 {
				stack[len(stack)-1]++
			}
		case '}':
			if len(stack) > 0 {
				n *= stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if n > MaxAlternatives {
					return n
				}
			}
		}
	}
	return n
}
