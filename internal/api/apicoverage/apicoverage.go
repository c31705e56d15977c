// Package apicoverage compares berth's OpenAPI document with Harbor's
// api/v2.0/swagger.yaml: which of Harbor's operations berth serves, which
// berth operations Harbor does not have, and whether an operation berth
// claims is really Harbor's (same operationId). It feeds docs/harbor-api.md
// (`make api-coverage`), the test that keeps that file and the operationIds
// honest, and test/harborapi, which maps the go-client's requests back to
// operations.
//
// Operations are matched by method and path with the parameter names
// normalized away: Harbor's basePath is /api/v2.0 and berth's paths are
// relative to the same prefix, so "GET /projects/{project_name_or_id}"
// matches "GET /projects/{id}".
package apicoverage

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Op is one operation of an API document.
type Op struct {
	Method      string // upper case: GET, POST, ...
	Path        string // as the document spells it, relative to /api/v2.0
	OperationID string
	Tag         string // the first tag; Harbor gives every operation exactly one
	// Outside is set for berth operations whose path item moves them out
	// of /api/v2.0 with its own servers entry (/c/login): they can never
	// be one of Harbor's.
	Outside bool
}

// Key is the method and the path with parameter names removed, what
// operations are matched by.
func (o Op) Key() string { return o.Method + " " + Normalize(o.Path) }

var param = regexp.MustCompile(`\{[^}/]*\}`)

// Normalize replaces every {name} of a path template with {}.
func Normalize(path string) string { return param.ReplaceAllString(path, "{}") }

// methods are the HTTP methods an OpenAPI path item may hold, in the order
// the report lists them for one path.
var methods = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

// Harbor reads the operations of a Swagger 2.0 document such as Harbor's
// api/v2.0/swagger.yaml. Only paths are decoded, and each operation only
// for its operationId and tags: the rest of the 10,000 lines is parsed by
// the YAML reader but never turned into Go values.
func Harbor(swaggerYAML []byte) ([]Op, error) {
	var doc struct {
		BasePath string                          `yaml:"basePath"`
		Paths    map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(swaggerYAML, &doc); err != nil {
		return nil, fmt.Errorf("harbor swagger: %w", err)
	}
	if doc.BasePath != "/api/v2.0" {
		return nil, fmt.Errorf("harbor swagger: basePath is %q, want /api/v2.0", doc.BasePath)
	}
	var ops []Op
	for path, item := range doc.Paths {
		for method, node := range item {
			if !slices.Contains(methods, method) {
				continue // path-level parameters
			}
			var op struct {
				OperationID string   `yaml:"operationId"`
				Tags        []string `yaml:"tags"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("harbor swagger: %s %s: %w", method, path, err)
			}
			ops = append(ops, newOp(method, path, op.OperationID, op.Tags, false))
		}
	}
	sortOps(ops)
	return ops, nil
}

// Berth reads the operations of an OpenAPI 3 document such as berth's
// (api.OpenAPIDocument).
func Berth(openAPIJSON []byte) ([]Op, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		return nil, fmt.Errorf("berth openapi: %w", err)
	}
	var ops []Op
	for path, item := range doc.Paths {
		_, outside := item["servers"]
		for method, raw := range item {
			if !slices.Contains(methods, method) {
				continue
			}
			var op struct {
				OperationID string   `json:"operationId"`
				Tags        []string `json:"tags"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("berth openapi: %s %s: %w", method, path, err)
			}
			ops = append(ops, newOp(method, path, op.OperationID, op.Tags, outside))
		}
	}
	sortOps(ops)
	return ops, nil
}

func newOp(method, path, id string, tags []string, outside bool) Op {
	op := Op{Method: strings.ToUpper(method), Path: path, OperationID: id, Outside: outside}
	if len(tags) > 0 {
		op.Tag = tags[0]
	}
	return op
}

// sortOps orders by path, then by the method order of methods.
func sortOps(ops []Op) {
	slices.SortFunc(ops, func(a, b Op) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path),
			cmp.Compare(slices.Index(methods, strings.ToLower(a.Method)), slices.Index(methods, strings.ToLower(b.Method))))
	})
}

// Match is one of Harbor's operations and berth's operation for it, if
// berth serves it.
type Match struct {
	Harbor Op
	Berth  *Op
}

// Report is the comparison of the two documents.
type Report struct {
	Matches []Match // every Harbor operation, in document order (path, method)
	Extra   []Op    // berth operations Harbor does not have
}

// Compare matches berth's operations to Harbor's.
func Compare(harbor, berth []Op) Report {
	byKey := map[string]*Op{}
	for i := range berth {
		if !berth[i].Outside {
			byKey[berth[i].Key()] = &berth[i]
		}
	}
	var r Report
	claimed := map[string]bool{}
	for _, h := range harbor {
		m := Match{Harbor: h, Berth: byKey[h.Key()]}
		if m.Berth != nil {
			claimed[h.Key()] = true
		}
		r.Matches = append(r.Matches, m)
	}
	for _, b := range berth {
		if b.Outside || !claimed[b.Key()] {
			r.Extra = append(r.Extra, b)
		}
	}
	return r
}

// Served is how many of Harbor's operations berth serves.
func (r Report) Served() int {
	n := 0
	for _, m := range r.Matches {
		if m.Berth != nil {
			n++
		}
	}
	return n
}

// Mismatches lists each berth operation that claims one of Harbor's (same
// method and path) but names it differently, or spells the path's
// parameters differently: a client generated from Harbor's document calls
// it by Harbor's name, so the claim must be exactly Harbor's operation.
func (r Report) Mismatches() []string {
	var out []string
	for _, m := range r.Matches {
		if b := m.Berth; b != nil {
			if b.OperationID != m.Harbor.OperationID {
				out = append(out, fmt.Sprintf("%s %s: berth's operationId is %q, Harbor's is %q",
					b.Method, b.Path, b.OperationID, m.Harbor.OperationID))
			}
			if b.Path != m.Harbor.Path {
				out = append(out, fmt.Sprintf("%s %s: Harbor names the parameters %s", b.Method, b.Path, m.Harbor.Path))
			}
		}
	}
	return out
}

// Markdown renders the report as docs/harbor-api.md. source names the
// Harbor document (repository and commit). The output depends only on the
// two documents, so the file can be checked for staleness byte for byte.
func (r Report) Markdown(source string) []byte {
	var b bytes.Buffer
	total, served := len(r.Matches), r.Served()
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(served) / float64(total)
	}
	fmt.Fprintf(&b, "# Harbor API coverage\n\n")
	fmt.Fprintf(&b, "Generated by `make api-coverage` (internal/api/apicoverage) from berth's OpenAPI document and\n"+
		"Harbor's api/v2.0/swagger.yaml (%s); do not edit by hand.\n"+
		"Operations are matched by method and path under /api/v2.0, parameter names aside.\n\n", source)
	fmt.Fprintf(&b, "**berth serves %d of Harbor's %d operations (%.1f%%).**\n\n", served, total, pct)

	tags := map[string][]Match{}
	for _, m := range r.Matches {
		tags[m.Harbor.Tag] = append(tags[m.Harbor.Tag], m)
	}
	names := make([]string, 0, len(tags))
	for t := range tags {
		names = append(names, t)
	}
	slices.SortFunc(names, func(a, b string) int { // Harbor mixes "Ldap" and "artifact"
		return cmp.Or(cmp.Compare(strings.ToLower(a), strings.ToLower(b)), cmp.Compare(a, b))
	})

	b.WriteString("| Harbor tag | served | of |\n|---|---:|---:|\n")
	for _, t := range names {
		n := 0
		for _, m := range tags[t] {
			if m.Berth != nil {
				n++
			}
		}
		fmt.Fprintf(&b, "| [%s](#%s) | %d | %d |\n", t, anchor(t), n, len(tags[t]))
	}
	for _, t := range names {
		fmt.Fprintf(&b, "\n## %s\n\n| operationId | method | path | served |\n|---|---|---|---|\n", t)
		for _, m := range tags[t] {
			served := "no"
			if m.Berth != nil {
				served = "**yes**"
			}
			fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", m.Harbor.OperationID, m.Harbor.Method, m.Harbor.Path, served)
		}
	}
	b.WriteString("\n## berth operations that are not Harbor's\n\n")
	if len(r.Extra) == 0 {
		b.WriteString("None.\n")
		return b.Bytes()
	}
	b.WriteString("| operationId | method | path |\n|---|---|---|\n")
	for _, o := range r.Extra {
		path := "`" + o.Path + "`"
		if o.Outside {
			path += " (not under /api/v2.0)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", o.OperationID, o.Method, path)
	}
	return b.Bytes()
}

// anchor is the heading id GitHub gives "## tag".
func anchor(tag string) string {
	return strings.ReplaceAll(strings.ToLower(tag), " ", "-")
}
