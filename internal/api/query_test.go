package api

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

func TestParseQuery(t *testing.T) {
	cases := []struct {
		q    string
		want []meta.Cond
	}{
		{"name=a", []meta.Cond{{Key: "name", Op: meta.Equal, Values: []string{"a"}}}},
		{"name=~ab,public=true", []meta.Cond{{Key: "name", Op: meta.Fuzzy, Values: []string{"ab"}}, {Key: "public", Values: []string{"true"}}}},
		{"op_time=[2024-01-01 00:00:00~2024-02-01 00:00:00]", []meta.Cond{{Key: "op_time", Op: meta.Range, Values: []string{"2024-01-01 00:00:00", "2024-02-01 00:00:00"}}}},
		{"op_time=[~2024-02-01]", []meta.Cond{{Key: "op_time", Op: meta.Range, Values: []string{"", "2024-02-01"}}}},
		{"tags={a b 'c d'}", []meta.Cond{{Key: "tags", Op: meta.AnyOf, Values: []string{"a", "b", "c d"}}}},
		{"labels=(1 2),name=x", []meta.Cond{{Key: "labels", Op: meta.AllOf, Values: []string{"1", "2"}}, {Key: "name", Values: []string{"x"}}}},
		{`name="a,b"`, []meta.Cond{{Key: "name", Values: []string{"a,b"}}}},
	}
	for _, c := range cases {
		got, err := parseQuery(c.q)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseQuery(%q) = %+v, %v; want %+v", c.q, got, err, c.want)
		}
	}
	for _, bad := range []string{"name", "=x", "t=[a b]", "t={a b", "t=(a", strings.Repeat("a=1,", 40) + "a=1"} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("parseQuery(%q): no error", bad)
		}
	}
	if got, _ := parseSort("name,-creation_time"); !reflect.DeepEqual(got, []meta.Order{{Key: "name"}, {Key: "creation_time", Desc: true}}) {
		t.Errorf("parseSort: %+v", got)
	}
}

// TestQueryLanguage drives every operator through real lists: unknown keys
// answer 400 naming the key (Harbor ignores them and lists everything).
func TestQueryLanguage(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"alpha", "beta", "gamma"} {
		e.project(n, n != "gamma", nil)
	}
	e.push("alpha/app", "v1", "v2")
	e.push("alpha/app", "v3")
	e.push("alpha/app")
	e.push("alpha/tool", "x")
	names := func(path string) []string {
		t.Helper()
		var out []string
		for _, v := range decode[[]map[string]any](t, e.expect(200, e.admin, "GET", Prefix+path, nil)) {
			out = append(out, v["name"].(string))
		}
		return out
	}
	q := func(s string) string { return url.QueryEscape(s) }
	for path, want := range map[string][]string{
		"/projects?q=" + q("name=~alp"):                   {"alpha"},
		"/projects?q=" + q("name={beta gamma}"):           {"beta", "gamma"},
		"/projects?q=" + q("public=false"):                {"gamma"},
		"/projects?q=" + q("name=~a") + "&sort=-name":     {"gamma", "beta", "alpha"},
		"/projects?q=" + q("name=~zzz"):                   nil,
		"/projects?name=et":                               {"beta"},
		"/projects/alpha/repositories?q=" + q("name=~to"): {"alpha/tool"},
		"/projects/alpha/repositories?sort=-name":         {"alpha/tool", "alpha/app"},
	} {
		if got := names(path); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	arts := func(query string) int {
		t.Helper()
		return len(decode[[]map[string]any](t, e.expect(200, e.admin, "GET", Prefix+"/projects/alpha/repositories/app/artifacts?q="+q(query), nil)))
	}
	for query, want := range map[string]int{
		"tags=*": 2, "tags=nil": 1, "tags=v1": 1, "tags=~v": 2, "tags={v1 v3}": 2, "tags=(v1 v2)": 1, "tags=(v1 v3)": 0,
	} {
		if got := arts(query); got != want {
			t.Errorf("artifacts q=%s: %d, want %d", query, got, want)
		}
	}
	for _, bad := range []string{
		"/projects?q=" + q("nosuch=1"), "/projects?sort=nosuch", "/projects?q=" + q("project_id=abc"),
		"/projects?q=" + q("public=maybe"), "/users?q=" + q("password=x"),
		"/projects/alpha/repositories/app/artifacts?q=" + q("tags=[a~b]"),
		"/audit-logs?q=" + q("op_time=[yesterday~]"),
	} {
		body := e.expect(400, e.admin, "GET", Prefix+bad, nil)
		if !strings.Contains(body, "query key") {
			t.Errorf("%s: %s", bad, body)
		}
	}
}

// TestPageSizeZero: Harbor's page_size=0 lists everything (harbor-cli
// sends page=0&page_size=0 to resolve names).
func TestPageSizeZero(t *testing.T) {
	e := newEnv(t)
	for i := range 12 {
		e.user("user"+string(rune('a'+i)), false)
	}
	list := decode[[]map[string]any](t, e.expect(200, e.admin, "GET", Prefix+"/users?page=0&page_size=0", nil))
	if len(list) != 13 {
		t.Errorf("page_size=0: %d users, want 13", len(list))
	}
	e.expect(400, e.admin, "GET", Prefix+"/users?page_size=101", nil)
	e.expect(400, e.admin, "GET", Prefix+"/users?page=-1", nil)
}

// TestTagQuery: the tags of an artifact take the query language too.
func TestTagQuery(t *testing.T) {
	e := newEnv(t)
	e.project("tq", false, nil)
	e.push("tq/app", "v1", "v2", "latest")
	base := Prefix + "/projects/tq/repositories/app/artifacts/latest/tags"
	names := func(query string) []string {
		t.Helper()
		var out []string
		for _, v := range decode[[]map[string]any](t, e.expect(200, e.admin, "GET", base+query, nil)) {
			out = append(out, v["name"].(string))
		}
		return out
	}
	q := url.QueryEscape
	for query, want := range map[string][]string{
		"":                                   {"latest", "v1", "v2"},
		"?sort=-name":                        {"v2", "v1", "latest"},
		"?q=" + q("name=~V"):                 {"v1", "v2"},
		"?q=" + q("name={v2 latest}"):        {"latest", "v2"},
		"?q=" + q("name=v1"):                 {"v1"},
		"?q=" + q("push_time=[2000-01-01~]"): {"latest", "v1", "v2"},
		"?q=" + q("push_time=[~2000-01-01]"): nil,
		"?page_size=1&page=2":                {"v1"},
	} {
		if got := names(query); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("tags%s: %q, want %q", query, got, want)
		}
	}
	for _, bad := range []string{"?q=" + q("size=1"), "?sort=size", "?q=" + q("push_time=[soon~]")} {
		if body := e.expect(400, e.admin, "GET", base+bad, nil); !strings.Contains(body, "query key") {
			t.Errorf("tags%s: %s", bad, body)
		}
	}
}

// TestScannerQuery: the scanner lists are made in memory and take the
// query language as the others (they listed the built-in scanner whatever
// q said).
func TestScannerQuery(t *testing.T) {
	e := newEnv(t)
	e.project("sq", false, nil)
	q := url.QueryEscape
	for _, base := range []string{Prefix + "/scanners", Prefix + "/projects/sq/scanner/candidates"} {
		for query, want := range map[string]int{
			"": 1, "?q=" + q("name=~zzz"): 0, "?q=" + q("name=~BER"): 1, "?q=" + q("is_default=true"): 1,
			"?q=" + q("name={berth other}") + "&sort=-name": 1, "?q=" + q("update_time=[1970-01-01~]"): 1, "?q=" + q("update_time=[~1969-12-31]"): 0,
			"?page=2&page_size=1": 0, "?page=0&page_size=0": 1,
		} {
			resp, body := e.req(e.admin, "GET", base+query, nil)
			if got := decode[[]scannerRegistration](t, body); resp.StatusCode != 200 || len(got) != want {
				t.Errorf("%s%s: %d %s, want %d scanners", base, query, resp.StatusCode, body, want)
			}
		}
		for bad, param := range map[string]string{"?q=" + q("nosuchkey=1"): "q: ", "?sort=-nosuchkey": "sort: "} {
			if body := e.expect(400, e.admin, "GET", base+bad, nil); !strings.Contains(body, param+`query key \"nosuchkey\"`) {
				t.Errorf("%s%s: %s", base, bad, body)
			}
		}
	}
}
