package api

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
)

// The OpenAPI document is kept as fragments, one per resource (the paths
// and the schemas they use), and merged once at start-up: a capability adds
// its own file instead of editing one large document. base.json holds the
// document's head and the shared components.
//
//go:embed openapi/*.json
var openAPIFragments embed.FS

// openAPIDoc is the merged document, served by GET /openapi.json.
var openAPIDoc = mustMergeOpenAPI(openAPIFragments)

// OpenAPIDocument returns the merged OpenAPI document (what GET
// /api/v2.0/openapi.json serves), for tools that measure the API without
// running a server (internal/api/apicoverage, test/harborapi).
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDoc) }

func mustMergeOpenAPI(fsys fs.FS) []byte {
	b, err := mergeOpenAPI(fsys)
	if err != nil {
		panic("api: " + err.Error()) // the fragments are embedded: TestOpenAPIMatchesRoutes catches this
	}
	return b
}

// mergeOpenAPI merges every openapi/*.json: top-level keys of base.json,
// and the union of paths and of each components section of all files. A
// path or component defined twice is an error, so two fragments cannot
// silently replace each other's definitions.
func mergeOpenAPI(fsys fs.FS) ([]byte, error) {
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	doc := map[string]any{}
	paths := map[string]any{}
	components := map[string]map[string]any{}
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := json.Unmarshal(raw, &frag); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for k, v := range frag {
			switch k {
			case "paths":
				for p, item := range v.(map[string]any) {
					if _, dup := paths[p]; dup {
						return nil, fmt.Errorf("%s: path %s is defined in another fragment too", name, p)
					}
					paths[p] = item
				}
			case "components":
				for section, entries := range v.(map[string]any) {
					if components[section] == nil {
						components[section] = map[string]any{}
					}
					for n, def := range entries.(map[string]any) {
						if _, dup := components[section][n]; dup {
							return nil, fmt.Errorf("%s: components/%s/%s is defined in another fragment too", name, section, n)
						}
						components[section][n] = def
					}
				}
			default:
				if path.Base(name) != "base.json" {
					return nil, fmt.Errorf("%s: only base.json may set %q", name, k)
				}
				doc[k] = v
			}
		}
	}
	doc["paths"], doc["components"] = paths, components
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openAPI: GET /openapi.json, the OpenAPI 3 document of this API.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDoc)
	return err
}
