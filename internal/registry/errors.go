package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Code is an OCI error code; each code owns its default HTTP status.
type Code struct {
	Name   string
	Status int
}

// The OCI distribution-spec error codes, with the statuses the spec (and
// the reference registry, where the spec is silent) gives them.
var (
	CodeBlobUnknown         = Code{"BLOB_UNKNOWN", http.StatusNotFound}
	CodeBlobUploadInvalid   = Code{"BLOB_UPLOAD_INVALID", http.StatusBadRequest}
	CodeBlobUploadUnknown   = Code{"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound}
	CodeDigestInvalid       = Code{"DIGEST_INVALID", http.StatusBadRequest}
	CodeManifestBlobUnknown = Code{"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest}
	CodeManifestInvalid     = Code{"MANIFEST_INVALID", http.StatusBadRequest}
	CodeManifestUnknown     = Code{"MANIFEST_UNKNOWN", http.StatusNotFound}
	CodeNameInvalid         = Code{"NAME_INVALID", http.StatusBadRequest}
	CodeNameUnknown         = Code{"NAME_UNKNOWN", http.StatusNotFound}
	CodeSizeInvalid         = Code{"SIZE_INVALID", http.StatusBadRequest}
	CodeUnauthorized        = Code{"UNAUTHORIZED", http.StatusUnauthorized}
	CodeDenied              = Code{"DENIED", http.StatusForbidden}
	CodeUnsupported         = Code{"UNSUPPORTED", http.StatusMethodNotAllowed}
	CodeTooManyRequests     = Code{"TOOMANYREQUESTS", http.StatusTooManyRequests}
	// CodeUnavailable is distribution's errcode for 503: the registry
	// cannot serve now (its database is unavailable) and the client should
	// retry after Retry-After.
	CodeUnavailable = Code{"UNAVAILABLE", http.StatusServiceUnavailable}
	// CodeRangeInvalid is sent with 416 for an out-of-order or overlapping
	// chunk, as the spec requires for that case.
	CodeRangeInvalid = Code{"RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable}
	codeUnknown      = Code{"UNKNOWN", http.StatusInternalServerError}
	// CodePolicyViolation is Harbor's answer to a pull a project's policy
	// refuses (signature or vulnerability policy).
	CodePolicyViolation = Code{"PROJECTPOLICYVIOLATION", http.StatusPreconditionFailed}
	// CodePrecondition is Harbor's answer to a push or delete a tag
	// immutability rule refuses.
	CodePrecondition = Code{"PRECONDITION", http.StatusPreconditionFailed}
	// codeReferenced is Harbor's answer to deleting a manifest an index
	// references.
	codeReferenced = Code{"VIOLATE_FOREIGN_KEY_CONSTRAINT", http.StatusPreconditionFailed}
)

// Error is an error a handler returns to be written as OCI error JSON.
type Error struct {
	Code    Code
	Status  int // overrides Code.Status when not zero
	Message string
	Detail  any
	// Header is set on the response before the error body (e.g. Range and
	// Location on a 416 so the client can resume).
	Header http.Header
}

func (e *Error) Error() string { return e.Code.Name + ": " + e.Message }

// Err builds an Error with a formatted message.
func (c Code) Err(format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) status() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Code.Status
}

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	body, _ := json.Marshal(errorBody{Errors: []errorItem{{Code: e.Code.Name, Message: e.Message, Detail: e.Detail}}})
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(e.status())
	_, _ = w.Write(body)
}

// errUnavailable is the answer to a request that failed because the
// metadata database is unavailable (meta.ErrUnavailable).
func errUnavailable() *Error {
	e := CodeUnavailable.Err("the registry's database is unavailable; try again later")
	e.Header = http.Header{"Retry-After": {strconv.Itoa(int(meta.RetryAfter / time.Second))}}
	return e
}
