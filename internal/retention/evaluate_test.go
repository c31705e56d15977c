package retention

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(days float64) time.Time {
	if days < 0 {
		return time.Time{}
	}
	return now.Add(-time.Duration(days * 24 * float64(time.Hour)))
}

func dg(name string) digest.Digest { return digest.FromString(name) }

// art is an artifact named name (its digest is derived from the name),
// pushed pushed days ago and pulled pulled days ago (-1: never), with
// tags (each pushed and pulled when the artifact was).
func art(name string, pushed, pulled float64, tags ...string) Artifact {
	a := Artifact{Digest: dg(name), PushedAt: ago(pushed), PulledAt: ago(pulled), Size: 100}
	for _, t := range tags {
		a.Tags = append(a.Tags, Tag{Name: t, PushedAt: ago(pushed), PulledAt: ago(pulled)})
	}
	return a
}

func rule(template string, param int, sels ...Selector) Rule {
	r := Rule{Action: ActionRetain, Template: template, Params: map[string]any{},
		ScopeSelectors: map[string][]Selector{ScopeRepository: {{Kind: Kind, Decoration: RepoMatches, Pattern: "**"}}}}
	if templates[template] != noParam {
		r.Params[template] = float64(param)
	}
	if len(sels) == 0 {
		sels = []Selector{{Kind: Kind, Decoration: Matches, Pattern: "**", Extras: `{"untagged":true}`}}
	}
	r.TagSelectors = sels
	return r
}

func tagSel(decoration, pattern string, untagged ...bool) Selector {
	s := Selector{Kind: Kind, Decoration: decoration, Pattern: pattern}
	if len(untagged) > 0 {
		s.Extras = fmt.Sprintf(`{"untagged":%v}`, untagged[0])
	}
	return s
}

func policy(t *testing.T, rules ...Rule) *Policy {
	t.Helper()
	p := &Policy{Algorithm: Algorithm, Rules: rules, Scope: &Scope{Level: ScopeProject, Ref: 1},
		Trigger: &Trigger{Kind: TriggerSchedule, Settings: map[string]any{SettingCron: ""}}}
	if err := Check(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// kept lists the names of the artifacts a plan does not delete, sorted.
func verdicts(plan *Plan, names map[digest.Digest]string) map[string]string {
	out := map[string]string{}
	for _, d := range plan.Decisions {
		out[names[d.Digest]] = d.Verdict
	}
	return out
}

func namesOf(arts []Artifact) map[digest.Digest]string {
	m := map[digest.Digest]string{}
	for _, a := range arts {
		for n := range 64 {
			if dg(fmt.Sprint(n)) == a.Digest {
				m[a.Digest] = fmt.Sprint(n)
			}
		}
	}
	return m
}

func deleted(plan *Plan, names map[digest.Digest]string) string {
	var out []string
	for _, d := range plan.Decisions {
		if d.Verdict == Delete {
			out = append(out, names[d.Digest])
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestTemplates: each template, over one repository of artifacts named by
// number (pushed N days ago, pulled at the given times).
func TestTemplates(t *testing.T) {
	arts := []Artifact{
		art("1", 1, -1, "v1"),      // pushed a day ago, never pulled
		art("2", 5, 2, "v2"),       // pulled 2 days ago
		art("3", 10, 40, "v3"),     // pulled 40 days ago
		art("4", 20, 0.5, "v4"),    // pulled 12 hours ago
		art("5", 50, -1, "v5"),     // old, never pulled
		art("6", 100, 90, "v6"),    // old, pulled long ago
		art("7", 3, -1),            // untagged
		art("8", 60, 1.5, "other"), // does not match v*
	}
	names := namesOf(arts)
	v := func(untagged bool) []Selector { return []Selector{tagSel(Matches, "v*", untagged)} }
	cases := []struct {
		name string
		rule Rule
		del  string // the names deleted
	}{
		{"latestPushedK 3", rule(LatestPushedK, 3), "3 4 5 6 8"}, // 1, 7, 2 newest
		{"latestPushedK 3 of v*", rule(LatestPushedK, 3, v(false)...), "4 5 6 7 8"},
		{"latestPushedK 0", rule(LatestPushedK, 0), "1 2 3 4 5 6 7 8"},
		{"latestPushedK more than there are", rule(LatestPushedK, 100), ""},
		// never pulled counts as pulled at push: 1 (1 day), 7 (3 days)
		{"latestPulledN 3", rule(LatestPulledN, 3), "2 3 5 6 7"}, // 4 (0.5), 1 (1), 8 (1.5)
		{"latestPulledN 3 of v*", rule(LatestPulledN, 3, v(false)...), "3 5 6 7 8"},
		{"latestActiveK 2", rule(LatestActiveK, 2), "2 3 5 6 7 8"}, // 4 (pull 0.5), 1 (push 1), not 8 (pull 1.5)
		{"latestActiveK 4 of v*", rule(LatestActiveK, 4, v(false)...), "5 6 7 8"},
		{"nDaysSinceLastPush 7", rule(NDaysSinceLastPush, 7), "3 4 5 6 8"},
		{"nDaysSinceLastPush 0", rule(NDaysSinceLastPush, 0), "1 2 3 4 5 6 7 8"},
		{"nDaysSinceLastPull 7", rule(NDaysSinceLastPull, 7), "3 5 6"}, // 1 and 7 never pulled, pushed recently
		{"nDaysSinceLastPull 60", rule(NDaysSinceLastPull, 60), "6"},
		{"lastXDays 10", rule(LastXDays, 10), "3 4 5 6 8"}, // strictly after the cut: 10 days ago exactly goes
		{"always", rule(Always, 0), ""},
		{"always v*", rule(Always, 0, v(false)...), "7 8"},
		{"always v* and untagged", rule(Always, 0, v(true)...), "8"},
		{"nothing", rule(Nothing, 0), "1 2 3 4 5 6 7 8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := policy(t, c.rule)
			plan := Evaluate(p, "app", slices.Clone(arts), now)
			if got := deleted(plan, names); got != c.del {
				t.Errorf("deleted %q, want %q\n%s", got, c.del, plan.Table())
			}
		})
	}
}

// TestSelectors: Harbor's doublestar tag selectors, ANDed within a rule,
// with the untagged extra and its defaults.
func TestSelectors(t *testing.T) {
	arts := []Artifact{
		art("1", 1, -1, "dev-1"),
		art("2", 1, -1, "test-1", "latest"),
		art("3", 1, -1, "prod-1"),
		art("4", 1, -1),
		art("5", 1, -1, "release/1.0"),
		art("6", 1, -1, "dev-2", "prod-2"),
	}
	names := namesOf(arts)
	cases := []struct {
		name string
		sels []Selector
		kept string
	}{
		{"matches, untagged by default", []Selector{{Decoration: Matches, Pattern: "dev-*"}}, "1 4 6"},
		{"matches, untagged false", []Selector{tagSel(Matches, "dev-*", false)}, "1 6"},
		{"matches, extras without untagged", []Selector{{Decoration: Matches, Pattern: "dev-*", Extras: "{}"}}, "1 4 6"},
		{"excludes: any tag not matching; untagged selected by default", []Selector{{Decoration: Excludes, Pattern: "dev-*"}}, "2 3 4 5 6"},
		{"excludes with untagged true excludes untagged too", []Selector{tagSel(Excludes, "dev-*", true)}, "2 3 5 6"},
		{"braces, the UI's comma list", []Selector{tagSel(Matches, "{dev-*,test-*}", false)}, "1 2 6"},
		{"* stays in a segment", []Selector{tagSel(Matches, "release*", false)}, ""},
		{"** crosses segments", []Selector{tagSel(Matches, "release/**", false)}, "5"},
		{"empty pattern matches everything", []Selector{tagSel(Matches, "", false)}, "1 2 3 5 6"},
		{"ANDed", []Selector{tagSel(Matches, "*-*", false), tagSel(Excludes, "prod-*", false)}, "1 2 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := policy(t, rule(Always, 0, c.sels...))
			plan := Evaluate(p, "app", slices.Clone(arts), now)
			var kept []string
			for _, d := range plan.Decisions {
				if d.Verdict == Retain {
					kept = append(kept, names[d.Digest])
				}
			}
			sort.Strings(kept)
			if got := strings.Join(kept, " "); got != c.kept {
				t.Errorf("kept %q, want %q", got, c.kept)
			}
		})
	}
}

// TestRepositorySelection: rules apply to the repositories their
// selectors pick; a repository no rule picks is left alone, disabled
// rules are skipped.
func TestRepositorySelection(t *testing.T) {
	repo := func(decoration, pattern string) map[string][]Selector {
		return map[string][]Selector{ScopeRepository: {{Kind: Kind, Decoration: decoration, Pattern: pattern}}}
	}
	r1 := rule(Always, 0)
	r1.ScopeSelectors = repo(RepoMatches, "app/**")
	r2 := rule(LatestPushedK, 1)
	r2.ScopeSelectors = repo(RepoExcludes, "app/**")
	r3 := rule(Nothing, 0)
	r3.ScopeSelectors = repo(RepoMatches, "web")
	r3.Disabled = true
	r4 := rule(Always, 0, tagSel(Matches, "x"))
	r4.ScopeSelectors = nil // every repository
	p := policy(t, r1, r2, r3, r4)
	// doublestar: "app/**" matches "app" itself too
	for path, want := range map[string][]int{"app/api": {0, 3}, "app": {0, 3}, "web": {1, 3}, "app/a/b": {0, 3}, "apps": {1, 3}} {
		if got := p.RulesFor(path); !slices.Equal(got, want) {
			t.Errorf("%s: rules %v, want %v", path, got, want)
		}
	}
	r1.ScopeSelectors = repo(RepoMatches, "app")
	p = policy(t, r1)
	plan := Evaluate(p, "web", []Artifact{art("1", 400, -1)}, now)
	if len(plan.Rules) != 0 || plan.Decisions[0].Verdict != Retain {
		t.Errorf("a repository no rule selects: %+v", plan)
	}
}

// TestOR: the union of the rules' retained sets; artifact-level: one
// retained tag keeps all the artifact's tags.
func TestOR(t *testing.T) {
	arts := []Artifact{
		art("1", 1, -1, "a-1"),
		art("2", 2, -1, "b-1"),
		art("3", 3, -1, "a-2", "b-2"),
		art("4", 4, -1, "c"),
	}
	names := namesOf(arts)
	p := policy(t, rule(LatestPushedK, 1, tagSel(Matches, "a-*", false)), rule(LatestPushedK, 1, tagSel(Matches, "b-*", false)))
	plan := Evaluate(p, "app", arts, now)
	if got := deleted(plan, names); got != "3 4" {
		t.Errorf("deleted %q", got)
	}
	for _, d := range plan.Decisions {
		if names[d.Digest] == "1" && !slices.Equal(d.RetainedBy, []int{0}) || names[d.Digest] == "2" && !slices.Equal(d.RetainedBy, []int{1}) {
			t.Errorf("%s retained by %v", names[d.Digest], d.RetainedBy)
		}
	}
}

// TestTimesFromTags: an artifact's push time is the latest of its own and
// its tags' (re-tagging restarts the clock), and so is its pull time.
func TestTimesFromTags(t *testing.T) {
	a := art("1", 100, 100, "old")
	a.Tags = append(a.Tags, Tag{Name: "fresh", PushedAt: ago(1), PulledAt: ago(2)})
	b := art("2", 50, -1, "x")
	p := policy(t, rule(NDaysSinceLastPush, 7))
	plan := Evaluate(p, "app", []Artifact{a, b}, now)
	names := namesOf([]Artifact{a, b})
	if got := deleted(plan, names); got != "2" {
		t.Errorf("deleted %q", got)
	}
	d := plan.Decisions[0]
	if !d.PushedTime.Equal(ago(1)) || !d.PulledTime.Equal(ago(2)) {
		t.Errorf("times %v %v", d.PushedTime, d.PulledTime)
	}
}

// TestImmutable: an artifact no rule keeps but with an immutable tag, or
// an accessory with one, is kept and marked IMMUTABLE; an untagged one is
// never IMMUTABLE (Harbor's #16335).
func TestImmutable(t *testing.T) {
	a := art("1", 10, -1, "v1")
	a.Immutable = true
	b := art("2", 10, -1, "v2")
	sig := art("3", 10, -1, "sha256-x.sig")
	sig.AccessoryOf, sig.Immutable = b.Digest, true
	c := art("4", 10, -1)
	arts := []Artifact{a, b, sig, c}
	names := namesOf(arts)
	plan := Evaluate(policy(t, rule(Nothing, 0)), "app", arts, now)
	want := map[string]string{"1": Immutable, "2": Immutable, "3": Retain, "4": Delete}
	if got := verdicts(plan, names); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("verdicts %v, want %v", got, want)
	}
}

// TestDependents: accessories and index children live and die with their
// parent; a child shared with a kept index stays; a tagged child is a
// candidate of its own, but stays while a kept index references it.
func TestDependents(t *testing.T) {
	idx := art("1", 10, -1, "old")
	c1, c2, shared := art("2", 10, -1), art("3", 10, -1), art("4", 10, -1)
	idx.Children = []digest.Digest{c1.Digest, c2.Digest, shared.Digest}
	sig := art("5", 10, -1, "sha256-1.sig")
	sig.AccessoryOf = idx.Digest
	sbomOfSig := art("6", 10, -1)
	sbomOfSig.AccessoryOf = sig.Digest
	keptIdx := art("7", 1, -1, "new")
	taggedChild := art("8", 30, -1, "child-tag")
	keptIdx.Children = []digest.Digest{shared.Digest, taggedChild.Digest}
	childSig := art("9", 1, -1)
	childSig.AccessoryOf = c1.Digest
	arts := []Artifact{idx, c1, c2, shared, sig, sbomOfSig, keptIdx, taggedChild, childSig}
	names := namesOf(arts)
	plan := Evaluate(policy(t, rule(LatestPushedK, 1)), "app", arts, now)
	want := map[string]string{"1": Delete, "2": Delete, "3": Delete, "4": Retain, "5": Delete, "6": Delete,
		"7": Retain, "8": Retain, "9": Delete}
	if got := verdicts(plan, names); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("verdicts %v\nwant     %v\n%s", got, want, plan.Table())
	}
	for _, d := range plan.Decisions {
		switch names[d.Digest] {
		case "1":
			var deps []string
			for _, x := range d.Dependents {
				deps = append(deps, names[x])
			}
			// accessories first, then children; parents before theirs
			if got := strings.Join(deps, " "); got != "5 2 3 6 9" {
				t.Errorf("dependents of the index: %s", got)
			}
			if !d.Candidate || d.Kind() != KindImage {
				t.Errorf("the index is a candidate: %+v", d)
			}
		case "8":
			if !d.Candidate || d.Parent != keptIdx.Digest || len(d.RetainedBy) != 0 {
				t.Errorf("tagged child: %+v", d)
			}
		case "5":
			if d.Candidate || d.Kind() != KindAccessory || d.Parent != idx.Digest {
				t.Errorf("signature: %+v", d)
			}
		case "2":
			if d.Candidate || d.Kind() != KindChild {
				t.Errorf("child: %+v", d)
			}
		}
	}
}

// TestAccessoryWithoutSubject: an accessory whose artifact is not in the
// repository is an artifact of its own.
func TestAccessoryWithoutSubject(t *testing.T) {
	a := art("1", 10, -1)
	a.AccessoryOf = dg("gone")
	plan := Evaluate(policy(t, rule(Nothing, 0)), "app", []Artifact{a}, now)
	if d := plan.Decisions[0]; !d.Candidate || d.Verdict != Delete {
		t.Errorf("%+v", d)
	}
}

// TestReadingA: the seeds' policy (research §1.8, Reading A) pasted as-is:
// dev-* kept 30 days, the last 3 test-*, prod-* forever, anything else
// deleted; an artifact tagged test-7 and prod-7 stays.
func TestReadingA(t *testing.T) {
	const seed = `{
  "algorithm": "or",
  "scope": { "level": "project", "ref": 5 },
  "trigger": { "kind": "Schedule", "settings": { "cron": "0 0 3 * * *" } },
  "rules": [
    { "action": "retain", "template": "nDaysSinceLastPush", "params": { "nDaysSinceLastPush": 30 },
      "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "dev-*",  "extras": "{\"untagged\":false}" } ],
      "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } },
    { "action": "retain", "template": "latestPushedK", "params": { "latestPushedK": 3 },
      "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "test-*", "extras": "{\"untagged\":false}" } ],
      "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } },
    { "action": "retain", "template": "always", "params": {},
      "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "prod-*", "extras": "{\"untagged\":false}" } ],
      "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } }
  ]
}`
	var p Policy
	if err := json.Unmarshal([]byte(seed), &p); err != nil {
		t.Fatal(err)
	}
	if err := Check(&p); err != nil {
		t.Fatal(err)
	}
	arts := []Artifact{
		art("1", 10, -1, "dev-new"),
		art("2", 40, -1, "dev-old"),
		art("3", 40, -1, "dev-old2", "latest"),
		art("4", 1, -1, "test-1"),
		art("5", 2, -1, "test-2"),
		art("6", 3, -1, "test-3"),
		art("7", 4, -1, "test-4"),
		art("8", 50, -1, "test-7", "prod-7"),
		art("9", 400, -1, "prod-1"),
		art("10", 1, -1, "v1.2.3"),
		art("11", 1, -1),
	}
	names := map[digest.Digest]string{}
	for i := range arts {
		names[arts[i].Digest] = fmt.Sprint(i + 1)
	}
	plan := Evaluate(&p, "app/api", arts, now)
	if got := deleted(plan, names); got != "10 11 2 3 7" {
		t.Errorf("deleted %q\n%s", got, plan.Table())
	}
}

func TestTable(t *testing.T) {
	a := art("1", 1, -1, "v1", "latest")
	a.Labels = []string{"ok"}
	b := art("2", 2, 1, "10")
	plan := Evaluate(policy(t, rule(LatestPushedK, 1)), "app", []Artifact{a, b}, now)
	got := plan.Table()
	want := fmt.Sprintf(`|                                 Digest                                  |    Tag    | Kind  | Labels |     PushedTime      |     PulledTime      |     CreatedTime     | Retention |
|-------------------------------------------------------------------------|-----------|-------|--------|---------------------|---------------------|---------------------|-----------|
| %s | v1,latest | image | ok     | 2026/05/31 12:00:00 |                     | 2026/05/31 12:00:00 | RETAIN    |
| %s |        10 | image |        | 2026/05/30 12:00:00 | 2026/05/31 12:00:00 | 2026/05/30 12:00:00 | DEL       |
`, a.Digest, b.Digest)
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
