package registry

import "strings"

// routeKind names the /v2 endpoints.
type routeKind int

const (
	routeNone routeKind = iota
	routeBase
	routeCatalog
	routeManifest
	routeBlob
	routeUploadStart
	routeUpload
	routeTags
	routeReferrers
)

// route is a parsed /v2 path. Names contain '/', so the path is split from
// the right: the last segment is the reference (which cannot contain '/'),
// the one before it the endpoint kind, and everything before that the name.
type route struct {
	kind routeKind
	name string
	ref  string // manifest reference, digest, or upload id
}

func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: routeBase}
		}
		return route{}
	}
	switch rest {
	case "":
		return route{kind: routeBase}
	case "_catalog":
		return route{kind: routeCatalog}
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return route{}
	}
	head, last := rest[:i], rest[i+1:]
	j := strings.LastIndexByte(head, '/')
	if j < 0 {
		return route{}
	}
	name, kind := head[:j], head[j+1:]
	switch kind {
	case "manifests":
		return route{kind: routeManifest, name: name, ref: last}
	case "blobs":
		return route{kind: routeBlob, name: name, ref: last}
	case "referrers":
		return route{kind: routeReferrers, name: name, ref: last}
	case "tags":
		if last == "list" {
			return route{kind: routeTags, name: name}
		}
	case "uploads":
		if n, ok := strings.CutSuffix(name, "/blobs"); ok {
			if last == "" {
				return route{kind: routeUploadStart, name: n}
			}
			return route{kind: routeUpload, name: n, ref: last}
		}
	}
	return route{}
}
