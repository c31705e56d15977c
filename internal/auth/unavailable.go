package auth

import (
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// tokenServerError answers a token request that failed through no fault of
// the caller: 503 with Retry-After when the database is unavailable (the
// client may simply retry), 500 otherwise.
func (g *Gate) tokenServerError(w http.ResponseWriter, r *http.Request, err error) {
	if meta.IsUnavailable(err) {
		w.Header().Set("Retry-After", strconv.Itoa(int(meta.RetryAfter/time.Second)))
		tokenError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the registry's database is unavailable; try again later")
		return
	}
	if g.Log != nil { // the cause is logged, never shown to the client
		g.Log.ErrorContext(r.Context(), "token request failed", "err", err)
	}
	tokenError(w, http.StatusInternalServerError, "UNKNOWN", "internal error")
}
