package replication

import "testing"

// TestDestRepo is Harbor's table (harbor-policies.md §8.2) for
// a/b/c/image into namespace n.
func TestDestRepo(t *testing.T) {
	for _, tc := range []struct {
		src, ns string
		replace int
		want    string
		err     bool
	}{
		{"a/b/c/image", "n", -1, "n/image", false},
		{"a/b/c/image", "n", 0, "n/a/b/c/image", false},
		{"a/b/c/image", "n", 1, "n/b/c/image", false},
		{"a/b/c/image", "n", 2, "n/c/image", false},
		{"a/b/c/image", "n", 3, "n/image", false},
		{"a/b/c/image", "n", 4, "", true},
		{"a/b/c/image", "", 2, "a/b/c/image", false},
		{"library/alpine", "mirror/x", -1, "mirror/x/alpine", false},
		{"library/alpine", "mirror", 1, "mirror/alpine", false},
		{"library/alpine", "mirror", 0, "mirror/library/alpine", false},
	} {
		got, err := DestRepo(tc.src, tc.ns, tc.replace)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("DestRepo(%q, %q, %d) = %q, %v; want %q (error %v)", tc.src, tc.ns, tc.replace, got, err, tc.want, tc.err)
		}
	}
}

// TestPolicyValidate: Harbor's rules on registries, triggers, filters.
func TestPolicyValidate(t *testing.T) {
	ok := func() *Policy {
		return &Policy{Name: "p", DestRegistry: 1, Filters: []Filter{{Type: FilterName, Value: "prod/**"},
			{Type: FilterTag, Value: "v*"}, {Type: FilterLabel, Value: []any{"approved"}, Decoration: Excludes}}}
	}
	if err := ok().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(p *Policy){
		"both registries": func(p *Policy) { p.SrcRegistry = 2 },
		"no registry":     func(p *Policy) { p.DestRegistry = 0 },
		"seconds not 0": func(p *Policy) {
			p.Trigger = &Trigger{Type: TriggerScheduled, TriggerSettings: &TriggerSettings{Cron: "1 0 3 * * *"}}
		},
		"minutes *": func(p *Policy) {
			p.Trigger = &Trigger{Type: TriggerScheduled, TriggerSettings: &TriggerSettings{Cron: "0 * 3 * * *"}}
		},
		"single + event":    func(p *Policy) { p.Trigger, p.SingleActiveReplication = &Trigger{Type: TriggerEvent}, true },
		"unknown trigger":   func(p *Policy) { p.Trigger = &Trigger{Type: "sometimes"} },
		"unknown filter":    func(p *Policy) { p.Filters = append(p.Filters, Filter{Type: "size", Value: "1"}) },
		"name decoration":   func(p *Policy) { p.Filters[0].Decoration = Excludes },
		"bad resource":      func(p *Policy) { p.Filters = append(p.Filters, Filter{Type: FilterResource, Value: "chart"}) },
		"bad platform":      func(p *Policy) { p.Filters = append(p.Filters, Filter{Type: FilterPlatform, Value: "amd64"}) },
		"label not a list":  func(p *Policy) { p.Filters[2].Value = 3 },
		"replace count -2":  func(p *Policy) { n := -2; p.DestNamespaceReplaceCount = &n },
		"bad namespace":     func(p *Policy) { p.DestNamespace = "a//b" },
		"two name filters":  func(p *Policy) { p.Filters = append(p.Filters, Filter{Type: FilterName, Value: "x"}) },
		"malformed pattern": func(p *Policy) { p.Filters[1].Value = "v[" },
	} {
		p := ok()
		mut(p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	p := ok()
	if !p.MatchRepo("prod/api") || p.MatchRepo("dev/api") || !p.MatchTag("v1") || p.MatchTag("latest") ||
		!p.MatchLabels(nil) || p.MatchLabels([]string{"approved"}) {
		t.Error("filters")
	}
	p.Filters[1].Decoration = Excludes
	if p.MatchTag("v1") || !p.MatchTag("latest") {
		t.Error("tag excludes")
	}
}
