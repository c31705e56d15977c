package retention

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/immutable"
)

// Selector kinds and decorations (Harbor's doublestar selector, the only
// one it registers).
const (
	Kind         = "doublestar"
	Matches      = "matches"
	Excludes     = "excludes"
	RepoMatches  = "repoMatches"
	RepoExcludes = "repoExcludes"
)

// Bounds on selectors: every candidate of a repository is matched against
// every pattern, so a pattern's cost is bounded, as that of the tag
// immutability rules' patterns (immutable.CheckPattern: length and {a,b}
// alternatives).
const (
	MaxSelectors = 10
	MaxExtrasLen = 1024
)

func checkSelectors(field string, sels []Selector, decorations ...string) error {
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
		if err := immutable.CheckPattern(s.Pattern); err != nil {
			return invalid("%s.pattern %q: %v", at, s.Pattern, err)
		}
		if len(s.Extras) > MaxExtrasLen {
			return invalid("%s.extras: at most %d bytes", at, MaxExtrasLen)
		}
		if _, err := untagged(s); err != nil {
			return invalid("%s.extras: %v", at, err)
		}
	}
	return nil
}

// untagged is a tag selector's extras' "untagged", by default true for
// matches and false for excludes (Harbor's defaults, kept for policies
// written before the option).
func untagged(s *Selector) (bool, error) {
	def := s.Decoration != Excludes
	if strings.TrimSpace(s.Extras) == "" {
		return def, nil
	}
	var extras map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s.Extras), &extras); err != nil {
		return def, fmt.Errorf(`want a JSON object in a string, such as "{\"untagged\":true}"`)
	}
	raw, ok := extras["untagged"]
	if !ok {
		return def, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return def, fmt.Errorf("untagged must be true or false")
	}
	return v, nil
}

// SelectsRepository reports whether rule r applies to the repository at
// path (its name without the project: "app/api" for "proj/app/api"): every
// repository selector selects it, a repoMatches one when its pattern
// matches, a repoExcludes one when it does not. A rule without repository
// selectors applies to every repository (Harbor).
func (r *Rule) SelectsRepository(path string) bool {
	for _, s := range r.ScopeSelectors[ScopeRepository] {
		if immutable.Match(s.Pattern, path) == (s.Decoration == RepoExcludes) {
			return false
		}
	}
	return true
}

// tagSelector is a checked tag selector ready to apply. untagged is
// whether it selects an untagged artifact: "matches" with untagged true
// does, and "excludes" with untagged false (an excludes selector with
// untagged true excludes untagged artifacts too: the UI's "excludes …
// [x] untagged artifacts").
type tagSelector struct {
	pattern  string
	excludes bool
	untagged bool
}

func tagSelectorsOf(r *Rule) []tagSelector {
	out := make([]tagSelector, 0, len(r.TagSelectors))
	for i := range r.TagSelectors {
		s := &r.TagSelectors[i]
		u, _ := untagged(s)
		excludes := s.Decoration == Excludes
		out = append(out, tagSelector{pattern: s.Pattern, excludes: excludes, untagged: u != excludes})
	}
	return out
}

// selects applies one tag selector to an artifact's tags (Harbor's
// doublestar selector): "matches" selects an artifact one of whose tags
// matches, "excludes" one of whose tags does not match.
func (s tagSelector) selects(tags []string) bool {
	if len(tags) == 0 {
		return s.untagged
	}
	for _, t := range tags {
		if immutable.Match(s.pattern, t) != s.excludes {
			return true
		}
	}
	return false
}
