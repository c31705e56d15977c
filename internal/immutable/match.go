package immutable

import (
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/berth-registry/berth/internal/meta"
)

// Rules are the enabled rules of one project, ready to match.
type Rules struct {
	rules []meta.ImmutableRule
}

// NewRules keeps the enabled rules of rs (all of one project).
func NewRules(rs []meta.ImmutableRule) Rules {
	var out Rules
	for _, r := range rs {
		if !r.Disabled {
			out.rules = append(out.rules, r)
		}
	}
	return out
}

// Empty reports whether no rule is enabled: nothing is immutable.
func (rs Rules) Empty() bool { return len(rs.rules) == 0 }

// Immutable reports whether tag in the repository at path (without the
// project: "app/api" for "proj/app/api") is immutable: some enabled rule
// matches both.
func (rs Rules) Immutable(path, tag string) bool {
	for i := range rs.rules {
		if Protects(&rs.rules[i], path, tag) {
			return true
		}
	}
	return false
}

// Guard is the meta.TagGuard of the repository at path; nil when no rule
// is enabled.
func (rs Rules) Guard(path string) meta.TagGuard {
	if rs.Empty() {
		return nil
	}
	return func(tag string) bool { return rs.Immutable(path, tag) }
}

// Protects reports whether rule r (enabled or not) protects tag in the
// repository at path: each of its repository selectors selects path and
// each of its tag selectors selects tag. A rule without selectors of
// either kind matches nothing (Check refuses such rules).
func Protects(r *meta.ImmutableRule, path, tag string) bool {
	repos := r.ScopeSelectors[ScopeRepository]
	if len(repos) == 0 || len(r.TagSelectors) == 0 {
		return false
	}
	for _, s := range repos {
		if !selects(s, path, RepoExcludes) {
			return false
		}
	}
	for _, s := range r.TagSelectors {
		if !selects(s, tag, Excludes) {
			return false
		}
	}
	return true
}

// selects applies one selector to a value: a match selects it, unless the
// selector's decoration is exclude (then what does not match is selected).
// A selector of another kind, or a pattern that does not compile, selects
// nothing (Check lets neither in).
func selects(s meta.ImmutableSelector, value, exclude string) bool {
	if s.Kind != Kind {
		return false
	}
	return Match(s.Pattern, value) != (s.Decoration == exclude)
}

// Match reports whether value matches the doublestar pattern; an empty
// pattern matches everything (Harbor), one that does not compile nothing.
// Tag retention's selectors match with it too.
func Match(pattern, value string) bool {
	if pattern == "" {
		return true
	}
	matched, err := doublestar.Match(pattern, value)
	return matched && err == nil
}

// SplitRepository splits a full repository name into its project and its
// path in the project ("" and the name when it has no project).
func SplitRepository(repo string) (project, path string) {
	project, path, found := strings.Cut(repo, "/")
	if !found {
		return "", repo
	}
	return project, path
}
