package api_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/apicoverage"
)

// TestHarborAPICoverage keeps berth's claim to Harbor's API honest: an
// operation berth serves under one of Harbor's method and path must be
// Harbor's operation (same operationId, same parameter names), and
// docs/harbor-api.md must be what `make api-coverage` writes now.
// (TestOpenAPIMatchesRoutes checks that the document is what the server
// routes.)
func TestHarborAPICoverage(t *testing.T) {
	c, err := apicoverage.Load(filepath.Join("..", "..", apicoverage.SwaggerFile), api.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Harbor); n != 203 {
		t.Errorf("Harbor's document has %d operations, want 203 (swagger.yaml at the vendored commit)", n)
	}
	for _, m := range c.Mismatches() {
		t.Errorf("not Harbor's operation: %s", m)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "harbor-api.md"))
	if err != nil {
		t.Fatalf("%v (run `make api-coverage`)", err)
	}
	if want := c.Markdown(); !bytes.Equal(got, want) {
		t.Errorf("docs/harbor-api.md is stale: run `make api-coverage` and commit it\n%s", firstDiff(got, want))
	}
}

// firstDiff shows the first line where the file differs from what the
// generator writes now.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  file:      %s\n  generated: %s", i+1, gl, wl)
		}
	}
	return ""
}
