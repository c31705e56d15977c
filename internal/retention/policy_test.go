package retention

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	base := func() *Policy {
		return &Policy{Algorithm: "or", Scope: &Scope{Level: "project", Ref: 3},
			Trigger: &Trigger{Kind: "Schedule", Settings: map[string]any{"cron": "0 0 3 * * *"}},
			Rules:   []Rule{rule(LatestPushedK, 10)}}
	}
	cases := []struct {
		name   string
		change func(p *Policy)
		want   string // "" ok, "409…" a conflict, else a part of the 400's reason
	}{
		{"valid", func(*Policy) {}, ""},
		{"no rules", func(p *Policy) { p.Rules = nil }, ""},
		{"algorithm", func(p *Policy) { p.Algorithm = "and" }, `algorithm must be "or"`},
		{"scope missing", func(p *Policy) { p.Scope = nil }, "scope is required"},
		{"scope level", func(p *Policy) { p.Scope.Level = "system" }, "scope system is not support"},
		{"trigger missing", func(p *Policy) { p.Trigger = nil }, "trigger is required"},
		{"trigger kind", func(p *Policy) { p.Trigger.Kind = "Event" }, `trigger.kind must be "Schedule"`},
		{"cron not a string", func(p *Policy) { p.Trigger.Settings["cron"] = 5.0 }, "must be a string"},
		{"cron invalid", func(p *Policy) { p.Trigger.Settings["cron"] = "bad" }, "invalid cron string"},
		{"cron seconds", func(p *Policy) { p.Trigger.Settings["cron"] = "5 0 3 * * *" }, "seconds"},
		{"cron five fields", func(p *Policy) { p.Trigger.Settings["cron"] = "0 3 * * *" }, "invalid cron string"},
		{"cron descriptor", func(p *Policy) { p.Trigger.Settings["cron"] = "@daily" }, ""},
		{"cron empty: manual", func(p *Policy) { p.Trigger.Settings["cron"] = "" }, ""},
		{"next run echoed", func(p *Policy) { p.Trigger.Settings["next_scheduled_time"] = "2026-01-01T00:00:00Z" }, ""},
		{"unknown setting", func(p *Policy) { p.Trigger.Settings["when"] = "now" }, `unknown setting "when"`},
		{"16 rules", func(p *Policy) {
			for i := range 15 {
				p.Rules = append(p.Rules, rule(LatestPushedK, i))
			}
		}, "only 15 rules are allowed at most"},
		{"15 rules", func(p *Policy) {
			for i := range 14 {
				p.Rules = append(p.Rules, rule(LatestPushedK, 20+i))
			}
		}, ""},
		{"duplicate rule", func(p *Policy) { r := p.Rules[0]; r.ID = 9; p.Rules = append(p.Rules, r) }, "409 rule 1 is conflict with rule 0"},
		{"action", func(p *Policy) { p.Rules[0].Action = "immutable" }, `action must be "retain"`},
		{"template", func(p *Policy) { p.Rules[0].Template = "latestK" }, "rule evaluator latestK is not registered"},
		{"hidden templates", func(p *Policy) { p.Rules = []Rule{rule(LatestActiveK, 3), rule(LastXDays, 3), rule(Nothing, 0)} }, ""},
		{"param missing", func(p *Policy) { p.Rules[0].Params = nil }, "missing required parameter latestPushedK for rule latestPushedK"},
		{"param other key", func(p *Policy) { p.Rules[0].Params = map[string]any{"latestPulledN": 3.0} }, "missing required parameter"},
		{"param string", func(p *Policy) { p.Rules[0].Params["latestPushedK"] = "3" }, "type error"},
		{"param fraction", func(p *Policy) { p.Rules[0].Params["latestPushedK"] = 2.5 }, "type error"},
		{"param negative", func(p *Policy) { p.Rules[0].Params["latestPushedK"] = -1.0 }, "less than zero"},
		{"count too large", func(p *Policy) { p.Rules[0].Params["latestPushedK"] = 32767.0 }, "too large"},
		{"count at most", func(p *Policy) { p.Rules[0].Params["latestPushedK"] = 32766.0 }, ""},
		{"days at most", func(p *Policy) { p.Rules = []Rule{rule(NDaysSinceLastPull, 20190904)} }, ""},
		{"days too large", func(p *Policy) { p.Rules = []Rule{rule(NDaysSinceLastPush, 20190905)} }, "too large"},
		{"no tag selector", func(p *Policy) { p.Rules[0].TagSelectors = nil }, "a rule needs a tag selector"},
		{"tag decoration", func(p *Policy) { p.Rules[0].TagSelectors[0].Decoration = "repoMatches" }, `decoration must be "matches" or "excludes"`},
		{"selector kind", func(p *Policy) { p.Rules[0].TagSelectors[0].Kind = "label" }, `kind must be "doublestar"`},
		{"selector kind defaults", func(p *Policy) { p.Rules[0].TagSelectors[0].Kind = "" }, ""},
		{"bad pattern", func(p *Policy) { p.Rules[0].TagSelectors[0].Pattern = "[a" }, "not a valid doublestar pattern"},
		{"long pattern", func(p *Policy) { p.Rules[0].TagSelectors[0].Pattern = strings.Repeat("a", 257) }, "longer than 256"},
		{"costly pattern", func(p *Policy) { p.Rules[0].TagSelectors[0].Pattern = "{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}" }, "alternatives"},
		{"extras not JSON", func(p *Policy) { p.Rules[0].TagSelectors[0].Extras = "untagged" }, "extras: want a JSON object"},
		{"extras untagged not bool", func(p *Policy) { p.Rules[0].TagSelectors[0].Extras = `{"untagged":"yes"}` }, "untagged must be true or false"},
		{"repo decoration", func(p *Policy) { p.Rules[0].ScopeSelectors["repository"][0].Decoration = "matches" }, `decoration must be "repoMatches" or "repoExcludes"`},
		{"project selectors", func(p *Policy) {
			p.Rules[0].ScopeSelectors["project"] = []Selector{{Kind: Kind, Decoration: "nsMatches", Pattern: "**"}}
		}, `"project" is not supported`},
		{"no repository selectors: every repository", func(p *Policy) { p.Rules[0].ScopeSelectors = nil }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base()
			c.change(p)
			err := Check(p)
			var inv *InvalidError
			var conflict *ConflictError
			switch {
			case c.want == "":
				if err != nil {
					t.Errorf("refused: %v", err)
				}
			case strings.HasPrefix(c.want, "409 "):
				if !errors.As(err, &conflict) || conflict.Reason != c.want[4:] {
					t.Errorf("got %v, want the conflict %q", err, c.want[4:])
				}
			case !errors.As(err, &inv) || !strings.Contains(inv.Reason, c.want):
				t.Errorf("got %v, want a 400 with %q", err, c.want)
			}
		})
	}
}

// TestCheckNormalizes: what is stored is Harbor's shape: settings hold the
// cron alone (next_scheduled_time is the server's), references are not
// kept, selectors get their kind, rules and params are never null.
func TestCheckNormalizes(t *testing.T) {
	var p Policy
	in := `{"algorithm":"or","scope":{"level":"project","ref":2},"trigger":{"kind":"Schedule","references":{},
		"settings":{"cron":" 0 0 3 * * * ","next_scheduled_time":"x"}},"rules":[{"action":"retain","template":"always",
		"tag_selectors":[{"decoration":"matches","pattern":"**"}]}]}`
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if err := Check(&p); err != nil {
		t.Fatal(err)
	}
	s, err := Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":0,"algorithm":"or","rules":[{"id":0,"priority":0,"disabled":false,"action":"retain","template":"always","params":{},` +
		`"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],"scope_selectors":null}],` +
		`"trigger":{"kind":"Schedule","settings":{"cron":"0 0 3 * * *"}},"scope":{"level":"project","ref":2}}`
	if s != want {
		t.Errorf("stored\n%s\nwant\n%s", s, want)
	}
	back, err := Unmarshal(s)
	if err != nil || back.Cron() != "0 0 3 * * *" {
		t.Errorf("read back: %+v %v", back, err)
	}
}
