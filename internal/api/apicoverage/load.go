package apicoverage

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// SwaggerFile is where Harbor's swagger.yaml is vendored, relative to the
// module root; SwaggerFile's .txt sibling names the commit it comes from.
const SwaggerFile = "internal/api/testdata/harbor-swagger.yaml"

// Comparison is everything known about the two documents.
type Comparison struct {
	Harbor, Berth []Op
	Report
	Source string // where Harbor's document comes from: repository and commit
}

var commit = regexp.MustCompile(`\b[0-9a-f]{40}\b`)

// Load reads Harbor's document from swaggerPath (and the commit it comes
// from out of its .txt sibling) and compares berth's document with it.
func Load(swaggerPath string, berthDoc []byte) (*Comparison, error) {
	y, err := os.ReadFile(swaggerPath)
	if err != nil {
		return nil, err
	}
	txtPath := strings.TrimSuffix(swaggerPath, ".yaml") + ".txt"
	txt, err := os.ReadFile(txtPath)
	if err != nil {
		return nil, err
	}
	c := commit.Find(txt)
	if c == nil {
		return nil, fmt.Errorf("%s names no commit (40 hex digits)", txtPath)
	}
	h, err := Harbor(y)
	if err != nil {
		return nil, err
	}
	b, err := Berth(berthDoc)
	if err != nil {
		return nil, err
	}
	return &Comparison{Harbor: h, Berth: b, Report: Compare(h, b), Source: "github.com/goharbor/harbor at " + string(c[:12])}, nil
}

// Markdown renders docs/harbor-api.md.
func (c *Comparison) Markdown() []byte { return c.Report.Markdown(c.Source) }
