package immutable

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

func TestCheckFillsDefaults(t *testing.T) {
	r := meta.ImmutableRule{
		TagSelectors:   []meta.ImmutableSelector{{Decoration: Matches, Pattern: "v*"}},
		ScopeSelectors: map[string][]meta.ImmutableSelector{ScopeRepository: {{Decoration: RepoMatches, Pattern: "**"}}},
	}
	if err := Check(&r); err != nil {
		t.Fatal(err)
	}
	want := rule(one(sel(RepoMatches, "**")), one(sel(Matches, "v*")))
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Check filled %+v, want %+v", r, want)
	}
}

func TestCheck(t *testing.T) {
	good := func() meta.ImmutableRule {
		r := rule(one(sel(RepoMatches, "**")), one(sel(Matches, "v*")))
		r.Priority, r.Params = 7, map[string]any{"k": "v"}
		r.TagSelectors[0].Extras = `{"untagged":false}`
		return r
	}
	for _, c := range []struct {
		name   string
		change func(r *meta.ImmutableRule)
		reason string // "" for valid
	}{
		{"Harbor's UI rule", func(*meta.ImmutableRule) {}, ""},
		{"{a,b} and classes", func(r *meta.ImmutableRule) { r.TagSelectors[0].Pattern = "{v[0-9]*,release-?}" }, ""},
		{"empty patterns", func(r *meta.ImmutableRule) {
			r.TagSelectors[0].Pattern, r.ScopeSelectors[ScopeRepository][0].Pattern = "", ""
		}, ""},
		{"excludes", func(r *meta.ImmutableRule) {
			r.TagSelectors[0].Decoration, r.ScopeSelectors[ScopeRepository][0].Decoration = Excludes, RepoExcludes
		}, ""},
		{"several selectors", func(r *meta.ImmutableRule) {
			r.TagSelectors = append(r.TagSelectors, sel(Excludes, "*-rc*"))
		}, ""},
		{"another action", func(r *meta.ImmutableRule) { r.Action = "retain" }, `action must be "immutable"`},
		{"another template", func(r *meta.ImmutableRule) { r.Template = "latestPushedK" }, `template must be "immutable_template"`},
		{"no tag selector", func(r *meta.ImmutableRule) { r.TagSelectors = nil }, "tag_selectors: a rule needs a selector"},
		{"no repository selector", func(r *meta.ImmutableRule) { r.ScopeSelectors = nil }, "scope_selectors.repository: a rule needs a selector"},
		{"a namespace scope", func(r *meta.ImmutableRule) {
			r.ScopeSelectors["project"] = one(sel("nsMatches", "**"))
		}, `scope_selectors: "project" is not supported`},
		{"a label selector", func(r *meta.ImmutableRule) { r.TagSelectors[0].Kind = "label" }, `tag_selectors[0].kind must be "doublestar"`},
		{"a repository decoration on a tag", func(r *meta.ImmutableRule) { r.TagSelectors[0].Decoration = RepoMatches }, `tag_selectors[0].decoration must be "matches" or "excludes"`},
		{"a tag decoration on a repository", func(r *meta.ImmutableRule) {
			r.ScopeSelectors[ScopeRepository][0].Decoration = Matches
		}, `scope_selectors.repository[0].decoration must be "repoMatches" or "repoExcludes"`},
		{"Harbor's old decoration names", func(r *meta.ImmutableRule) { r.TagSelectors[0].Decoration = "matching" }, "decoration must be"},
		{"an unclosed brace", func(r *meta.ImmutableRule) { r.TagSelectors[0].Pattern = "{v1,v2" }, "not a valid doublestar pattern"},
		{"an unclosed class", func(r *meta.ImmutableRule) { r.ScopeSelectors[ScopeRepository][0].Pattern = "app/[a-" }, "not a valid doublestar pattern"},
		{"a long pattern", func(r *meta.ImmutableRule) { r.TagSelectors[0].Pattern = strings.Repeat("a", MaxPatternLen+1) }, "longer than"},
		{"alternatives combining too many ways", func(r *meta.ImmutableRule) {
			r.TagSelectors[0].Pattern = strings.Repeat("{a,b}", 9)
		}, "combine in more than"},
		{"too many selectors", func(r *meta.ImmutableRule) {
			for range MaxSelectors {
				r.TagSelectors = append(r.TagSelectors, sel(Matches, "x"))
			}
		}, "at most 10 selectors"},
		{"extras not JSON", func(r *meta.ImmutableRule) { r.TagSelectors[0].Extras = "untagged" }, "extras must be a JSON object"},
		{"params too large", func(r *meta.ImmutableRule) { r.Params = map[string]any{"k": strings.Repeat("x", MaxParamsLen)} }, "params: at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.change(&r)
			err := Check(&r)
			var ie *InvalidRuleError
			switch {
			case c.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.reason == "":
			case !errors.As(err, &ie):
				t.Fatalf("err = %v, want *InvalidRuleError", err)
			case !strings.Contains(err.Error(), c.reason):
				t.Fatalf("err = %q, want it to say %q", err, c.reason)
			}
		})
	}
}

func TestAlternatives(t *testing.T) {
	for p, want := range map[string]int{
		"v*":                   1,
		"{a,b}":                2,
		"{a,b}-{c,d,e}":        6,
		"{a,{b,c}}":            4, // an upper bound: 3 in truth
		`\{a,b\}`:              1,
		"{single}":             1,
		"x,y":                  1,
		"{a,b}{a,b}{a,b}{a,b}": 16,
	} {
		if got := alternatives(p); got != want {
			t.Errorf("alternatives(%q) = %d, want %d", p, got, want)
		}
	}
}

// FuzzPattern: whatever Check lets in matches without panicking, and a
// pattern it refuses is never half-accepted.
func FuzzPattern(f *testing.F) {
	for _, p := range []string{"v*", "**", "{a,b}", "team/**/x", "[a-z]?", `\{`, "{a,{b,c}}", "[", "{"} {
		f.Add(p, "v1.0", "team/app/x")
	}
	f.Fuzz(func(t *testing.T, pattern, tag, path string) {
		r := rule(one(sel(RepoMatches, pattern)), one(sel(Matches, pattern)))
		if err := Check(&r); err != nil {
			return
		}
		NewRules([]meta.ImmutableRule{r}).Immutable(path, tag)
	})
}
