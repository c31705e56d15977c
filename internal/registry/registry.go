// Package registry serves the OCI Distribution API (/v2/...). Handlers are
// func(w, r) error; serve turns errors into OCI error JSON.
package registry

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/rbac"
)

// Options tune the registry. Zero values are replaced by defaults in New.
type Options struct {
	// MaxManifestSize caps a manifest body (default 4 MiB).
	MaxManifestSize int64
	// MaxBlobSize caps one blob (default 0: no limit beyond the disk).
	MaxBlobSize int64
	// DeleteEnabled allows DELETE of manifests, tags and blobs.
	DeleteEnabled bool
	// UploadTTL is how long an untouched upload session lives (default 24h).
	UploadTTL time.Duration
	// MaxPageSize caps n on tag and catalog listings (default 10000).
	MaxPageSize int
	Logger      *slog.Logger
	// Authorizer, if set, must allow each request's scopes; nil serves
	// everyone (the registry without access control).
	Authorizer Authorizer
	// Audit, if set, is told of pushes, pulls and deletes.
	Audit func(req *http.Request, operation, resourceType, repo, ref string)
	// RedirectTTL > 0 makes blob GETs answer 307 to a presigned URL valid
	// this long, when the blob store can make one (blob.Redirector).
	RedirectTTL time.Duration
	// ReadOnly, if set, is asked before every push, upload and delete:
	// true refuses them (403 DENIED, as Harbor's read-only mode). It is on
	// the hot path: it must not block (an atomic load).
	ReadOnly func() bool
	// Pulls, if set, is told of every manifest GET answered with the
	// manifest (not HEAD, not 304), as Harbor counts pulls. It must not
	// block.
	Pulls PullRecorder
	// Tags, if set, stores manifests and deletes manifests and tags in
	// place of the metadata store: tag immutability (immutable.Guard)
	// refuses to move or delete an immutable tag (*meta.ImmutableTagError,
	// answered 412). Reads never go through it.
	Tags TagWriter
	// Events, if set, is told of pushes, pulls and deletes (webhooks,
	// replication triggers, scan on push). Publishing never blocks.
	Events *events.Bus
	// Proxy, if set, serves the repositories of proxy-cache projects and
	// refuses pushes to them.
	Proxy Proxy
	// PullPolicy, if set, may refuse a manifest GET (not HEAD) of an
	// artifact its project's policy blocks (the signature policy,
	// internal/sign): a *meta.PolicyViolationError is answered 412
	// PROJECTPOLICYVIOLATION. It is on the hot path: a pull from a project
	// without a policy must cost it no query.
	PullPolicy PullPolicy
}

// PullPolicy decides whether a manifest GET may be answered; m has its
// body, req carries the caller (after Authorizer).
type PullPolicy interface {
	CheckPull(req *http.Request, repo string, m *meta.Manifest) error
}

// PullRecorder gathers pull statistics (pullstats.Recorder). tag is the
// tag the manifest was pulled by, "" for a pull by digest; ctx is the
// request's, which tells pulls of berth's own jobs apart.
type PullRecorder interface {
	Pulled(ctx context.Context, repo, tag string, d digest.Digest)
}

// Authorizer decides whether a request may act on scopes. On success the
// context it returns replaces the request's (it carries the caller).
type Authorizer interface {
	Authorize(r *http.Request, scopes []rbac.Scope) (context.Context, error)
	// CanPull reports whether the caller may pull from repo (a mount
	// source), whatever its token was issued for.
	CanPull(r *http.Request, repo string) bool
}

// Registry is the /v2 HTTP handler.
type Registry struct {
	meta  meta.Store
	blobs blob.Store
	opt   Options
	log   *slog.Logger

	// uploadLocks serialize requests on one upload session within this
	// process; AdvanceUpload's compare-and-set catches other replicas.
	uploadLocks [64]sync.Mutex
	lockSeed    maphash.Seed
	copyBufs    sync.Pool
}

const copyBufSize = 256 << 10

// New returns a registry over the given stores.
func New(m meta.Store, b blob.Store, opt Options) *Registry {
	if opt.MaxManifestSize <= 0 {
		opt.MaxManifestSize = 4 << 20
	}
	if opt.UploadTTL <= 0 {
		opt.UploadTTL = 24 * time.Hour
	}
	if opt.MaxPageSize <= 0 {
		opt.MaxPageSize = 10000
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Tags == nil {
		opt.Tags = m
	}
	r := &Registry{meta: m, blobs: b, opt: opt, log: opt.Logger, lockSeed: maphash.MakeSeed()}
	r.copyBufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	return r
}

func (r *Registry) lockUpload(id string) func() {
	mu := &r.uploadLocks[maphash.String(r.lockSeed, id)%uint64(len(r.uploadLocks))]
	mu.Lock()
	return mu.Unlock
}

type handlerFunc func(w http.ResponseWriter, req *http.Request, rt route) error

// ServeHTTP implements http.Handler.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	// Route on the escaped path: an encoded "/" inside a reference must
	// stay inside it (and then fail validation), not split the path.
	rt := parseRoute(req.URL.EscapedPath())
	h := r.handler(req.Method, rt)
	if h == nil {
		return
	}
	var err error
	if rt.kind != routeNone && rt.kind != routeBase && rt.kind != routeCatalog && !oci.ValidName(rt.name) {
		err = CodeNameInvalid.Err("invalid repository name %q", rt.name)
	} else if req, err = r.authorize(req, rt); err == nil {
		if err = r.checkWritable(req.Method); err == nil {
			if err = r.refuseProxyPush(req.Method, rt); err == nil {
				err = h(w, req, rt)
			}
		}
	}
	if err != nil {
		r.writeErr(w, req, err)
	}
}

// handler picks the handler for a method and route, writing 404/405 itself
// (and returning nil) when there is none.
func (r *Registry) handler(method string, rt route) handlerFunc {
	type key struct {
		k routeKind
		m string
	}
	var h handlerFunc
	switch (key{rt.kind, method}) {
	case key{routeBase, http.MethodGet}, key{routeBase, http.MethodHead}:
		h = r.base
	case key{routeCatalog, http.MethodGet}:
		h = r.catalog
	case key{routeManifest, http.MethodGet}, key{routeManifest, http.MethodHead}:
		h = r.getManifest
	case key{routeManifest, http.MethodPut}:
		h = r.putManifest
	case key{routeManifest, http.MethodDelete}:
		h = r.deleteManifest
	case key{routeBlob, http.MethodGet}, key{routeBlob, http.MethodHead}:
		h = r.getBlob
	case key{routeBlob, http.MethodDelete}:
		h = r.deleteBlob
	case key{routeUploadStart, http.MethodPost}:
		h = r.startUpload
	case key{routeUpload, http.MethodGet}:
		h = r.uploadStatus
	case key{routeUpload, http.MethodPatch}:
		h = r.patchUpload
	case key{routeUpload, http.MethodPut}:
		h = r.putUpload
	case key{routeUpload, http.MethodDelete}:
		h = r.cancelUpload
	case key{routeTags, http.MethodGet}:
		h = r.listTags
	case key{routeReferrers, http.MethodGet}:
		h = r.referrers
	}
	if h != nil {
		return h
	}
	if rt.kind == routeNone {
		return func(w http.ResponseWriter, _ *http.Request, _ route) error {
			return &Error{Code: CodeUnsupported, Status: http.StatusNotFound, Message: "no such endpoint"}
		}
	}
	return func(w http.ResponseWriter, _ *http.Request, _ route) error {
		return CodeUnsupported.Err("method %s is not allowed here", method)
	}
}

// checkWritable refuses changes in read-only mode, after authorization
// (a caller without credentials is still challenged), as Harbor does.
func (r *Registry) checkWritable(method string) error {
	if method == http.MethodGet || method == http.MethodHead || r.opt.ReadOnly == nil || !r.opt.ReadOnly() {
		return nil
	}
	return CodeDenied.Err("The system is in read only mode. Any modification is prohibited.")
}

// checkDelete refuses deletes when they are switched off.
func (r *Registry) checkDelete() error {
	if !r.opt.DeleteEnabled {
		return CodeUnsupported.Err("deletes are disabled on this registry")
	}
	return nil
}

func (r *Registry) base(w http.ResponseWriter, req *http.Request, _ route) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	if req.Method == http.MethodGet {
		_, _ = w.Write([]byte("{}"))
	}
	return nil
}

// writeErr maps an error to its OCI response. An unavailable database is a
// 503 with Retry-After. Anything unexpected is a 500 that is logged with
// the request id; the client sees no internals.
func (r *Registry) writeErr(w http.ResponseWriter, req *http.Request, err error) {
	var e *Error
	var missing *meta.MissingRefError
	var ch *auth.Challenge
	var immutableTag *meta.ImmutableTagError
	var exceeded *meta.QuotaExceededError
	var violation *meta.PolicyViolationError
	var coded ociCoder
	switch {
	case errors.As(err, &e):
	case errors.As(err, &violation):
		e = CodePolicyViolation.Err("%s", violation.Message)
	case errors.As(err, &coded):
		name, status, msg := coded.OCIError()
		e = &Error{Code: Code{name, status}, Message: msg}
	case errors.As(err, &exceeded):
		e = errQuota(exceeded)
	case errors.As(err, &immutableTag):
		e = errImmutableTag(immutableTag)
	case errors.As(err, &ch) && ch.Status == http.StatusUnauthorized:
		e = CodeUnauthorized.Err("%s", ch.Message)
		e.Header = http.Header{"Www-Authenticate": {ch.WWWAuthenticate}}
	case errors.As(err, &ch):
		e = CodeDenied.Err("%s", ch.Message)
	case errors.As(err, &missing):
		if missing.ActualSize >= 0 {
			e = CodeManifestInvalid.Err("%s", missing.Error())
		} else {
			e = CodeManifestBlobUnknown.Err("%s", missing.Error())
		}
		e.Detail = map[string]string{"digest": string(missing.Ref.Digest)}
	case errors.Is(err, meta.ErrBlobNotFound), errors.Is(err, blob.ErrNotFound):
		e = CodeBlobUnknown.Err("blob unknown to registry")
	case errors.Is(err, meta.ErrManifestNotFound), errors.Is(err, meta.ErrTagNotFound):
		e = CodeManifestUnknown.Err("manifest unknown")
	case errors.Is(err, meta.ErrManifestReferenced): // an index's child: Harbor's 412
		e = &Error{Code: codeReferenced, Message: err.Error()}
	case errors.Is(err, meta.ErrRepoNotFound):
		e = CodeNameUnknown.Err("repository name not known to registry")
	case errors.Is(err, meta.ErrUploadNotFound), errors.Is(err, blob.ErrInvalidID):
		e = CodeBlobUploadUnknown.Err("blob upload unknown to registry")
	case errors.Is(err, context.Canceled) && req.Context().Err() != nil:
		// The client went away; nobody reads the response.
		e = &Error{Code: codeUnknown, Status: 499, Message: "client closed request"}
	case meta.IsUnavailable(err):
		// Not the request's fault nor a bug: clients retry a 503.
		r.log.WarnContext(req.Context(), "request failed: database unavailable", "method", req.Method, "path", req.URL.Path, "err", err)
		e = errUnavailable()
	default:
		r.log.ErrorContext(req.Context(), "request failed", "method", req.Method, "path", req.URL.Path, "err", err)
		e = codeUnknown.Err("internal error")
	}
	writeError(w, e)
}
