package registry

import (
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	cases := map[string]route{
		"/v2/":                              {kind: routeBase},
		"/v2":                               {kind: routeBase},
		"/v2/_catalog":                      {kind: routeCatalog},
		"/v2/a/b/manifests/latest":          {routeManifest, "a/b", "latest"},
		"/v2/a/manifests/b/manifests/x":     {routeManifest, "a/manifests/b", "x"},
		"/v2/a/blobs/sha256:ab":             {routeBlob, "a", "sha256:ab"},
		"/v2/a/b/blobs/uploads/":            {routeUploadStart, "a/b", ""},
		"/v2/a/blobs/uploads/0123":          {routeUpload, "a", "0123"},
		"/v2/a/b/tags/list":                 {routeTags, "a/b", ""},
		"/v2/a/referrers/sha256:ab":         {routeReferrers, "a", "sha256:ab"},
		"/v2/a/tags/other":                  {},
		"/v2/a":                             {},
		"/v2/manifests/x":                   {},
		"/v3/a/manifests/x":                 {},
		"/v2/a/uploads/x":                   {},
		"/v2/a/blobs/uploads":               {routeBlob, "a", "uploads"},
		"/v2/../../etc/manifests/passwd":    {routeManifest, "../../etc", "passwd"},
		"/v2/a/blobs/uploads/../../../x/y":  {},
		"/v2/a/blobs/uploads/" + "x/../../": {},
	}
	for path, want := range cases {
		if got := parseRoute(path); got != want {
			t.Errorf("parseRoute(%q) = %+v, want %+v", path, got, want)
		}
	}
}

// FuzzParseRoute: never panics, and a parsed name+ref always re-assemble
// into a suffix-consistent path (no segment is invented or dropped).
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/a/b/manifests/x", "/v2/a/blobs/uploads/", "/v2/_catalog", "/v2//blobs/uploads/x", "/v2/a/tags/list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt := parseRoute(p)
		if rt.kind == routeNone || rt.kind == routeBase || rt.kind == routeCatalog {
			return
		}
		if strings.Contains(rt.ref, "/") {
			t.Fatalf("ref %q contains a slash (path %q)", rt.ref, p)
		}
		if !strings.HasPrefix(p, "/v2/"+rt.name+"/") || !strings.HasSuffix(p, rt.ref) {
			t.Fatalf("route %+v does not match path %q", rt, p)
		}
	})
}
