// Command apicoverage writes docs/harbor-api.md: which of Harbor's API
// operations berth serves, per Harbor tag, and which berth operations are
// not Harbor's. It compares berth's OpenAPI document, taken from the code
// (api.OpenAPIDocument, no server involved), with Harbor's swagger.yaml
// vendored at internal/api/testdata. Run from the module root:
//
//	make api-coverage    # go run ./scripts/apicoverage
//
// internal/api's TestHarborAPICoverage fails while the file is stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/apicoverage"
)

func main() {
	swagger := flag.String("harbor", apicoverage.SwaggerFile, "Harbor's swagger.yaml")
	out := flag.String("out", "docs/harbor-api.md", "file to write")
	flag.Parse()
	c, err := apicoverage.Load(*swagger, api.OpenAPIDocument())
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicoverage:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, c.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "apicoverage:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: berth serves %d of Harbor's %d operations\n", *out, c.Served(), len(c.Matches))
	for _, m := range c.Mismatches() {
		fmt.Fprintln(os.Stderr, "apicoverage: mismatch:", m)
	}
}
