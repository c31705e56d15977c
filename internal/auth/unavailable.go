package auth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// tokenServerError answers a token request that failed through no fault of
// the caller: 503 with Retry-After when the database is unavailable (the
// client may simply retry), 500 otherwise.
func (g *Gate) tokenServerError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away (crane cancels the token requests it no
		// longer needs): not a server error; 499 in the access log.
		tokenError(w, 499, "UNKNOWN", "client closed request")
		return
	}
	if meta.IsUnavailable(err) {
		w.Header().Set("Retry-After", strconv.Itoa(int(meta.RetryAfter/time.Second)))
		tokenError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the registry's database is unavailable; try again later")
		return
	}
	if errors.Is(err, ErrDirectoryUnavailable) {
		if g.Log != nil {
			g.Log.WarnContext(r.Context(), "token request: user directory unavailable", "err", err)
		}
		tokenError(w, http.StatusServiceUnavailable, "UNAVAILABLE", ErrDirectoryUnavailable.Error())
		return
	}
	if g.Log != nil { // the cause is logged, never shown to the client
		g.Log.ErrorContext(r.Context(), "token request failed", "err", err)
	}
	tokenError(w, http.StatusInternalServerError, "UNKNOWN", "internal error")
}
