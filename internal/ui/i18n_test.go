package ui

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestTranslations: every English text of the templates and of the Go
// code (messages, titles, table labels) has its Chinese translation.
func TestTranslations(t *testing.T) {
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`\.T "([^"]+)"`),
		regexp.MustCompile(`p\.T\("([^"]+)"\)`),
		regexp.MustCompile(`p\.done\([^,]+, "([^"]+)"\)`),
		regexp.MustCompile(`msg(?: :)?= "([^"]+)"`),
		regexp.MustCompile(`p\.(?:show|admin)\("[a-z_]+", "([^"]+)"`),
	}
	files, _ := filepath.Glob("templates/*.html")
	gofiles, _ := filepath.Glob("[^i]*.go") // not the i18n files
	n := 0
	for _, f := range append(files, gofiles...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range patterns {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				n++
				if _, ok := zh[m[1]]; !ok {
					t.Errorf("%s: no translation of %q", f, m[1])
				}
			}
		}
	}
	for _, r := range roles {
		if _, ok := zh[r.Name]; !ok {
			t.Errorf("role %q untranslated", r.Name)
		}
	}
	for _, g := range robotGrants {
		if _, ok := zh[g.Label]; !ok {
			t.Errorf("permission %q untranslated", g.Label)
		}
	}
	for _, s := range adminSections {
		if _, ok := zh[s.Label]; !ok {
			t.Errorf("section %q untranslated", s.Label)
		}
	}
	if n < 100 {
		t.Fatalf("only %d texts found: the patterns are broken", n)
	}
}

func TestParseRepoPath(t *testing.T) {
	for in, want := range map[string]repoPath{
		"app":                   {Repo: "app"},
		"a/b/c":                 {Repo: "a/b/c"},
		"a/artifacts/b":         {Repo: "a/artifacts/b"},
		"a/artifacts/sha256:ab": {Repo: "a", Digest: "sha256:ab"},
		"a/artifacts/x/artifacts/s:1/tags/v1/delete": {Repo: "a/artifacts/x", Digest: "s:1", Action: "tags/v1/delete"},
		"a/b/-/delete": {Repo: "a/b", Action: "delete"},
	} {
		if got := parseRepoPath(in); got != want {
			t.Errorf("%s: %+v, want %+v", in, got, want)
		}
	}
}
