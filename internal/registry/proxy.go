package registry

import (
	"context"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Proxy serves the repositories of proxy-cache projects (internal/proxy).
type Proxy interface {
	// Proxied reports whether repo is in a proxy-cache project. It is
	// asked on every pull and push: it must not query or allocate.
	Proxied(repo string) bool
	// Manifest resolves ref in repo through the upstream (the body is
	// always returned when fetched).
	Manifest(ctx context.Context, repo, ref string, withBody bool) (*meta.Manifest, error)
	// Blob answers a GET or HEAD of a blob not linked in repo, storing it
	// through commit.
	Blob(w http.ResponseWriter, req *http.Request, repo string, d digest.Digest,
		commit func(ctx context.Context, repo, uploadID string, d digest.Digest, size int64) error) error
}

// ociCoder is an error that carries its own OCI code and status (the
// proxy's answers about its upstream).
type ociCoder interface {
	error
	OCIError() (code string, status int, message string)
}

// refuseProxyPush refuses any write to a proxy-cache project but deletes,
// as Harbor does.
func (r *Registry) refuseProxyPush(method string, rt route) error {
	if method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete ||
		r.opt.Proxy == nil || rt.name == "" || !r.opt.Proxy.Proxied(rt.name) {
		return nil
	}
	project, _, _ := strings.Cut(rt.name, "/")
	return CodeDenied.Err("can not push artifact to a proxy project: %s", project)
}

// proxyBlob answers a blob miss in a proxy-cache project.
func (r *Registry) proxyBlob(w http.ResponseWriter, req *http.Request, name string, d digest.Digest) error {
	return r.opt.Proxy.Blob(w, req, name, d, func(ctx context.Context, repo, id string, d digest.Digest, size int64) error {
		return r.commit(ctx, repo, id, d, size, false)
	})
}
