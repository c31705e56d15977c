package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces DESIGN.md: dependencies point inward.
// oci imports nothing of ours; meta and blob never import HTTP code or the
// layers above them.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/berth-registry/berth/internal/"
	forbidden := map[string][]string{
		"oci":   {mod},
		"meta":  {mod + "registry", mod + "app", mod + "accesslog", "net/http"},
		"blob":  {mod + "registry", mod + "app", mod + "meta", mod + "accesslog", "net/http"},
		"rbac":  {"net/http"},
		"auth":  {mod + "registry"},
		"oci/":  {mod},
		"meta/": {mod + "registry", mod + "app", mod + "api", mod + "auth", "net/http"},
		// The S3 store is an HTTP client; no blob store may use our HTTP
		// layers, and the local ones use no HTTP at all.
		"blob/":   {mod + "registry", mod + "app", mod + "api", mod + "auth", mod + "meta"},
		"blob/fs": {"net/http"},
		// Settings are read by the registry and the API, never the reverse.
		"settings":  {mod + "registry", mod + "app", mod + "api", mod + "auth", "net/http"},
		"identity":  {mod + "registry", mod + "app", mod + "api"},
		"identity/": {mod + "registry", mod + "app", mod + "api"},
		// The web UI reaches the API only through the handler app gives it.
		"ui": {mod + "api", mod + "registry", mod + "app"},
		// Garbage collection works on the two stores, never over HTTP.
		"gc": {mod + "registry", mod + "app", mod + "api", mod + "auth", "net/http"},
		// Webhooks are a capability: the API calls them, never the reverse.
		"webhook": {mod + "registry", mod + "app", mod + "api", mod + "auth"},
		// Events are the bottom of the fan-out: everyone imports them.
		"events": {mod},
		// metrics: collectors fed through events, meta and small funcs.
		"metrics": {mod + "registry", mod + "app", mod + "api", mod + "ui"},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := strings.TrimPrefix(fields[0], mod), fields[1:]
		for prefix, bad := range forbidden {
			if pkg != prefix && !(strings.HasSuffix(prefix, "/") && strings.HasPrefix(pkg, prefix)) {
				continue
			}
			for _, d := range deps {
				for _, b := range bad {
					if strings.HasPrefix(d, b) && !strings.HasPrefix(d, mod+pkg) && !strings.HasSuffix(pkg, "test") {
						t.Errorf("%s must not depend on %s", pkg, d)
					}
				}
			}
		}
	}
}
