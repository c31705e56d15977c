package app

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/auth"
)

// Request body limits outside /v2 (where the registry bounds manifests by
// --max-manifest-size and blobs by --max-blob-size itself).
const (
	// maxFormBody bounds the login and token forms: a name, a password
	// and a few scopes.
	maxFormBody = 16 << 10
	// maxOtherBody bounds bodies of endpoints that take none (health,
	// unknown paths): they are never read, but must not be spooled.
	maxOtherBody = 16 << 10
)

// bodyLimit is the largest request body accepted on path, or -1 when the
// handler bounds it itself.
func bodyLimit(path string) int64 {
	switch {
	case path == "/v2" || strings.HasPrefix(path, "/v2/"):
		return -1
	case strings.HasPrefix(path, api.Prefix+"/"):
		return api.MaxJSONBody
	case path == auth.TokenPath || strings.HasPrefix(path, "/c/"):
		return maxFormBody
	}
	return maxOtherBody
}

// limitBodies caps every request body that is not a registry upload, so
// no unauthenticated request can make berth read (or net/http spool to
// disk) more than a few KiB: a declared length over the limit is refused
// at once with 413, and a body that runs past it ends in an error. It
// replaces the body on the request net/http owns, before any middleware
// makes a copy.
func limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := bodyLimit(r.URL.Path)
		if limit < 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			tooLarge(w, r, limit)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// tooLarge answers 413 in the error shape of the endpoint's API.
func tooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	code := "PAYLOAD_TOO_LARGE" // Harbor's API and the login endpoints
	if r.URL.Path == auth.TokenPath {
		code = "SIZE_INVALID"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_, _ = fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"request body larger than %d bytes"}]}`+"\n", code, limit)
}
