package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/accesslog"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/quota"
)

// Error is an API error with Harbor's code and its HTTP status.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func errBadRequest(msg string) error { return &Error{http.StatusBadRequest, "BAD_REQUEST", msg} }
func errUnauthorized(msg string) error {
	return &Error{http.StatusUnauthorized, "UNAUTHORIZED", msg}
}
func errForbidden(msg string) error { return &Error{http.StatusForbidden, "FORBIDDEN", msg} }
func errNotFound(msg string) error  { return &Error{http.StatusNotFound, "NOT_FOUND", msg} }
func errConflict(msg string) error  { return &Error{http.StatusConflict, "CONFLICT", msg} }
func errPrecondition(msg string) error {
	return &Error{http.StatusPreconditionFailed, "PRECONDITION", msg}
}

func errTooLarge(limit int64) error {
	return &Error{http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", fmt.Sprintf("request body larger than %d bytes", limit)}
}

// harborErrors is Harbor's error body.
type harborErrors struct {
	Errors []harborError `json:"errors"`
}

type harborError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError writes err as {"errors":[{"code":…,"message":…}]}. An
// unavailable database (meta.ErrUnavailable) is 503 SERVICE_UNAVAILABLE
// with Retry-After. Other errors that are not *Error become 500
// INTERNAL_SERVER_ERROR, logged with the request id and never shown to the
// client.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	var qe *meta.QueryError
	var ie *meta.ImmutableTagError
	var qx *meta.QuotaExceededError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &qx): // a copy past the project's storage limit
		e = &Error{http.StatusForbidden, "DENIED", quota.Message(qx)}
	case errors.As(err, &ie): // a write refused by a tag immutability rule
		errors.As(errImmutableTag(ie), &e)
	case errors.Is(err, meta.ErrManifestReferenced): // an index's child (Harbor's code and message)
		e = &Error{http.StatusPreconditionFailed, "VIOLATE_FOREIGN_KEY_CONSTRAINT", meta.ErrManifestReferenced.Error()}
	case errors.As(err, &qe): // a list query the store cannot answer: names the key
		param := "q: "
		if qe.Sort {
			param = "sort: "
		}
		e = &Error{http.StatusBadRequest, "BAD_REQUEST", param + qe.Error()}
	case errors.Is(err, meta.ErrNotFound), isNotFound(err):
		e = &Error{http.StatusNotFound, "NOT_FOUND", err.Error()}
	case errors.Is(err, meta.ErrConflict):
		e = &Error{http.StatusConflict, "CONFLICT", err.Error()}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away: nothing failed here, and nobody reads
		// the answer (499 in the access log, as nginx and /v2 do).
		e = &Error{499, "CLIENT_CLOSED_REQUEST", "client closed request"}
	case errors.Is(err, auth.ErrDirectoryUnavailable): // LDAP down or too slow: said so, bounded by ldap_timeout
		log.Warn("api request failed: user directory unavailable", "method", r.Method, "path", r.URL.Path, "err", err,
			"request_id", accesslog.RequestID(r.Context()))
		e = &Error{http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", auth.ErrDirectoryUnavailable.Error()}
	case meta.IsUnavailable(err):
		// Not the request's fault nor a bug: clients retry a 503.
		log.Warn("api request failed: database unavailable", "method", r.Method, "path", r.URL.Path, "err", err,
			"request_id", accesslog.RequestID(r.Context()))
		e = &Error{http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the registry's database is unavailable; try again later"}
		w.Header().Set("Retry-After", strconv.Itoa(int(meta.RetryAfter/time.Second)))
	default:
		log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err,
			"request_id", accesslog.RequestID(r.Context()))
		e = &Error{http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal server error"}
	}
	_ = writeJSON(w, e.Status, harborErrors{Errors: []harborError{{Code: e.Code, Message: e.Message}}})
}

// pathID reads the path value name as a positive integer id (400 if it
// is not one).
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errBadRequest(name + " must be a positive integer")
	}
	return id, nil
}

// errNotRunning is the 503 of an operation whose service (scanning,
// webhooks, replication, ...) does not run on this server.
func errNotRunning(what string) error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "SERVICE_UNAVAILABLE", Message: what + " on this server"}
}
