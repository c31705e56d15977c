package registry

import (
	"net/http"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/rbac"
)

// scopesFor is what a request needs, in Docker token scope terms.
func scopesFor(method string, rt route) []rbac.Scope {
	repo := func(actions ...string) []rbac.Scope {
		return []rbac.Scope{{Type: "repository", Name: rt.name, Actions: actions}}
	}
	switch rt.kind {
	case routeBase, routeNone:
		return nil
	case routeCatalog:
		return []rbac.Scope{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}
	case routeUploadStart, routeUpload:
		return repo("push")
	case routeManifest:
		switch method {
		case http.MethodPut:
			return repo("push")
		case http.MethodDelete:
			return repo("delete")
		}
	case routeBlob:
		if method == http.MethodDelete {
			return repo("delete")
		}
	}
	return repo("pull")
}

// authorize runs the Authorizer, if any, and returns the request carrying
// the caller's context.
func (r *Registry) authorize(req *http.Request, rt route) (*http.Request, error) {
	if r.opt.Authorizer == nil {
		return req, nil
	}
	ctx, err := r.opt.Authorizer.Authorize(req, scopesFor(req.Method, rt))
	if err != nil {
		return req, err
	}
	return req.WithContext(ctx), nil
}

// canPull reports whether the caller may pull from repo: the condition for
// mounting a blob from it.
func (r *Registry) canPull(req *http.Request, repo string) bool {
	return r.opt.Authorizer == nil || r.opt.Authorizer.CanPull(req, repo)
}

func (r *Registry) audit(req *http.Request, operation, resourceType, repo, ref string) {
	if r.opt.Audit != nil {
		r.opt.Audit(req, operation, resourceType, repo, ref)
	}
}

// publish tells the event bus of e, with the caller and project filled in.
func (r *Registry) publish(req *http.Request, e events.Event) {
	if !r.opt.Events.Wants(e.Type) {
		return
	}
	e.Operator = auth.FromContext(req.Context()).Name
	e.Project = events.ProjectOf(e.Repo)
	r.opt.Events.Publish(req.Context(), e)
}
