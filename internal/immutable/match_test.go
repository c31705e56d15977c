package immutable

import (
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

func sel(decoration, pattern string) meta.ImmutableSelector {
	return meta.ImmutableSelector{Kind: Kind, Decoration: decoration, Pattern: pattern}
}

// rule protects tags selected by tags in repositories selected by repos.
func rule(repos, tags []meta.ImmutableSelector) meta.ImmutableRule {
	return meta.ImmutableRule{Action: Action, Template: Template, TagSelectors: tags,
		ScopeSelectors: map[string][]meta.ImmutableSelector{ScopeRepository: repos}}
}

func one(s meta.ImmutableSelector) []meta.ImmutableSelector { return []meta.ImmutableSelector{s} }

func disabled(r meta.ImmutableRule) meta.ImmutableRule {
	r.Disabled = true
	return r
}

type probe struct {
	path, tag string
	want      bool
}

// TestMatchMatrix: which tags a project's rules make immutable, case by
// case: Harbor's own cases (src/pkg/immutable/match/rule/match_test.go,
// tests/apitests/python/test_tag_immutability.py) and the semantics of
// the research notes (§1.4, §2.2).
func TestMatchMatrix(t *testing.T) {
	for _, c := range []struct {
		name   string
		rules  []meta.ImmutableRule
		probes []probe
	}{
		{"harbor match_test: release-** in redis, ** in mysql", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "redis")), one(sel(Matches, "release-**"))),
			rule(one(sel(RepoMatches, "mysql")), one(sel(Matches, "**"))),
		}, []probe{
			{"redis", "release-1.10", true},
			{"redis", "1.10", false},
			{"mysql", "9.4.8", true},
			{"hello", "world", false},
		}},
		{"harbor test_priority_of_rules: an excluding rule does not undo a matching one", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "image_priority_a")), one(sel(Matches, "6.3.2"))),
			rule(one(sel(RepoExcludes, "{image_priority_a,image_priority_b}")), one(sel(Matches, "**"))),
		}, []probe{
			{"image_priority_a", "6.3.2", true},
			{"image_priority_a", "latest", false},
			{"image_priority_b", "0.12.0", false},
			{"image_priority_b", "latest", false},
			{"image_priority_c", "3.12.0", true},
			{"image_priority_c", "latest", true},
		}},
		{"no rule: nothing is immutable", nil, []probe{{"app", "v1", false}}},
		{"a disabled rule has no effect", []meta.ImmutableRule{
			disabled(rule(one(sel(RepoMatches, "**")), one(sel(Matches, "**")))),
		}, []probe{{"app", "v1", false}, {"a/b", "latest", false}}},
		{"a disabled rule beside an enabled one", []meta.ImmutableRule{
			disabled(rule(one(sel(RepoMatches, "**")), one(sel(Matches, "**")))),
			rule(one(sel(RepoMatches, "**")), one(sel(Matches, "v*"))),
		}, []probe{{"app", "v1", true}, {"app", "latest", false}}},
		{"tags: * within the name, ? one character", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "**")), one(sel(Matches, "v?.*"))),
		}, []probe{
			{"app", "v1.0", true},
			{"app", "v1.", true},
			{"app", "v10.0", false},
			{"app", "v1", false},
		}},
		{"tags: excludes selects what does not match", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "**")), one(sel(Excludes, "dev-*"))),
		}, []probe{
			{"app", "v1", true},
			{"app", "latest", true},
			{"app", "dev-1", false},
			{"app", "dev-", false},
		}},
		{"tags: {a,b} alternatives, as Harbor's UI stores a comma list", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "**")), one(sel(Matches, "{prod-*,release-*}"))),
		}, []probe{
			{"app", "prod-1", true},
			{"app", "release-2", true},
			{"app", "dev-1", false},
		}},
		{"tags: [classes]", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "**")), one(sel(Matches, "v[0-9]*"))),
		}, []probe{{"app", "v2", true}, {"app", "vx", false}}},
		{"an empty pattern matches everything", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "")), one(sel(Matches, ""))),
		}, []probe{{"app", "v1", true}, {"a/b/c", "x", true}}},
		{"an empty excluding pattern excludes everything", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "**")), one(sel(Excludes, ""))),
		}, []probe{{"app", "v1", false}}},
		{"repositories: * stays within a segment, ** crosses them", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "team/*")), one(sel(Matches, "one"))),
			rule(one(sel(RepoMatches, "team/**")), one(sel(Matches, "two"))),
		}, []probe{
			{"team/api", "one", true},
			{"team/api/v2", "one", false},
			{"team/api", "two", true},
			{"team/api/v2", "two", true},
			{"other/api", "two", false},
		}},
		{"repositories: the path is without the project", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "proj/app")), one(sel(Matches, "**"))),
			rule(one(sel(RepoMatches, "db")), one(sel(Matches, "**"))),
		}, []probe{
			{"app", "v1", false},
			{"proj/app", "v1", true}, // the repository proj/proj/app
			{"db", "v1", true},
			{"db/replica", "v1", false},
		}},
		{"repositories: repoExcludes with {a,b}", []meta.ImmutableRule{
			rule(one(sel(RepoExcludes, "{sandbox,tmp/**}")), one(sel(Matches, "**"))),
		}, []probe{
			{"app", "v1", true},
			{"sandbox", "v1", false},
			{"tmp/x/y", "v1", false},
			{"sandboxes", "v1", true},
		}},
		{"several selectors of a rule are ANDed", []meta.ImmutableRule{
			rule([]meta.ImmutableSelector{sel(RepoMatches, "app/**"), sel(RepoExcludes, "app/test*")},
				[]meta.ImmutableSelector{sel(Matches, "v*"), sel(Excludes, "*-rc*")}),
		}, []probe{
			{"app/api", "v1", true},
			{"app/api", "v1-rc1", false},
			{"app/test-x", "v1", false},
			{"web", "v1", false},
		}},
		{"a rule without repository or tag selectors matches nothing", []meta.ImmutableRule{
			{Action: Action, Template: Template, TagSelectors: one(sel(Matches, "**"))},
			rule(one(sel(RepoMatches, "**")), nil),
		}, []probe{{"app", "v1", false}}},
		{"a selector of another kind selects nothing", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "**")), one(meta.ImmutableSelector{Kind: "label", Decoration: Matches, Pattern: "**"})),
		}, []probe{{"app", "v1", false}}},
		{"a sha256-<digest>.sig cosign tag is a tag like any other", []meta.ImmutableRule{
			rule(one(sel(RepoMatches, "**")), one(sel(Excludes, "sha256-*"))),
		}, []probe{{"app", "sha256-abcd.sig", false}, {"app", "v1", true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := NewRules(c.rules)
			for _, p := range c.probes {
				if got := rs.Immutable(p.path, p.tag); got != p.want {
					t.Errorf("%s:%s immutable = %v, want %v", p.path, p.tag, got, p.want)
				}
				if g := rs.Guard(p.path); (g != nil && g(p.tag)) != p.want {
					t.Errorf("Guard(%s)(%s) disagrees with Immutable", p.path, p.tag)
				}
			}
		})
	}
}

func TestRulesEmpty(t *testing.T) {
	if !NewRules(nil).Empty() || NewRules(nil).Guard("app") != nil {
		t.Error("no rules: not empty, or a guard")
	}
	all := rule(one(sel(RepoMatches, "**")), one(sel(Matches, "**")))
	if !NewRules([]meta.ImmutableRule{disabled(all)}).Empty() {
		t.Error("only disabled rules: not empty")
	}
	if NewRules([]meta.ImmutableRule{all}).Empty() {
		t.Error("an enabled rule: empty")
	}
}

func TestSplitRepository(t *testing.T) {
	for repo, want := range map[string][2]string{
		"proj/app":     {"proj", "app"},
		"proj/a/b/c":   {"proj", "a/b/c"},
		"alone":        {"", "alone"},
		"lib/x":        {"lib", "x"},
		"proj/app/api": {"proj", "app/api"},
	} {
		if p, path := SplitRepository(repo); p != want[0] || path != want[1] {
			t.Errorf("SplitRepository(%q) = %q, %q; want %q, %q", repo, p, path, want[0], want[1])
		}
	}
}
