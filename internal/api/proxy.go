package api

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/proxy"
	"github.com/berth-registry/berth/internal/retention"
)

// ProxyCache is the proxy cache as the API needs it (internal/proxy over
// the registries of internal/replication).
type ProxyCache interface {
	// CheckRegistry refuses a registry that cannot back a proxy-cache
	// project (unknown: ErrNotFound; a type Harbor does not permit).
	CheckRegistry(ctx context.Context, id int64) error
	// Reload makes /v2 see proxy-cache projects created, changed or
	// deleted now.
	Reload(ctx context.Context) error
	// RegistryInUse reports whether a proxy-cache project pulls from
	// registry id.
	RegistryInUse(ctx context.Context, id int64) (bool, error)
}

// refuseProxyRegistry refuses to delete a registry a proxy-cache project
// pulls from (Harbor's 412 and words).
func (s *Server) refuseProxyRegistry(ctx context.Context, id int64) error {
	if s.opt.Proxy == nil {
		return nil
	}
	used, err := s.opt.Proxy.RegistryInUse(ctx, id)
	if err != nil || !used {
		return err
	}
	return errPrecondition(fmt.Sprintf("the registry %d is referenced by proxy cache project, cannot delete it", id))
}

// proxyOnlyKeys are the metadata keys accepted for proxy-cache projects
// only (Harbor's).
var proxyOnlyKeys = []string{proxy.KeyFilterPattern, proxy.KeyFilterKind}

// checkRegistryID checks the registry_id of a project being created: only
// system administrators create proxy-cache projects (Harbor's words), of
// an existing registry of a permitted type.
func (s *Server) checkRegistryID(ctx context.Context, id *auth.Identity, registryID *int64) error {
	switch {
	case registryID == nil:
		return nil
	case !id.SysAdmin:
		return errForbidden("Only system admin can create proxy cache project")
	case s.opt.Proxy == nil:
		return errBadRequest("proxy cache projects (registry_id) are not supported by this server")
	}
	err := s.opt.Proxy.CheckRegistry(ctx, *registryID)
	if isNotFound(err) {
		return errBadRequest(fmt.Sprintf("registry %d not found", *registryID))
	}
	return err
}

// proxyMetadata takes the proxy-only keys out of req's metadata (which
// projectChange would refuse) and returns them checked, with the registry
// id when it is given (creation), to be added to the proxy-cache project's
// metadata. Harbor drops enable_content_trust (notation) from a
// proxy-cache project.
func proxyMetadata(req *projectReq) (map[string]string, error) {
	out := map[string]string{}
	if req.RegistryID != nil {
		out[meta.ProxyRegistryKey] = strconv.FormatInt(*req.RegistryID, 10)
	}
	for _, k := range proxyOnlyKeys {
		v, ok := req.Metadata[k]
		if !ok {
			continue
		}
		delete(req.Metadata, k)
		switch {
		case v == "":
			continue
		case k == proxy.KeyFilterKind && v != "doublestar":
			return nil, errBadRequest(fmt.Sprintf("metadata %s: invalid value %q: want doublestar", k, v))
		case k == proxy.KeyFilterPattern && !proxy.ValidFilter(v):
			return nil, errBadRequest(fmt.Sprintf("metadata %s: invalid doublestar pattern %q", k, v))
		}
		out[k] = v
	}
	delete(req.Metadata, "enable_content_trust")
	return out, nil
}

// withProxyMetadata adds m to c's metadata.
func withProxyMetadata(c *meta.ProjectChange, m map[string]string) {
	if len(m) == 0 {
		return
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	maps.Copy(c.Metadata, m)
}

// proxyRetention gives a new proxy-cache project Harbor's default policy:
// keep what was pulled in the last 7 days, checked daily at midnight.
func (s *Server) proxyRetention(ctx context.Context, p *meta.Project) error {
	q, err := s.queue()
	if err != nil {
		return err
	}
	pol := &retention.Policy{
		Algorithm: retention.Algorithm,
		Rules: []retention.Rule{{
			ID: 1, Priority: 1, Action: retention.ActionRetain, Template: retention.NDaysSinceLastPull,
			Params:         map[string]any{retention.NDaysSinceLastPull: float64(7)}, // a number as JSON decodes it
			TagSelectors:   []retention.Selector{{Kind: retention.Kind, Decoration: retention.Matches, Pattern: "**"}},
			ScopeSelectors: map[string][]retention.Selector{"repository": {{Kind: retention.Kind, Decoration: retention.RepoMatches, Pattern: "**"}}},
		}},
		Trigger: &retention.Trigger{Kind: retention.TriggerSchedule, Settings: map[string]any{retention.SettingCron: "0 0 0 * * *"}},
		Scope:   &retention.Scope{Level: retention.ScopeProject, Ref: p.ID},
	}
	if err := retention.Check(pol); err != nil {
		return err
	}
	text, err := retention.Marshal(pol)
	if err != nil {
		return err
	}
	row := &meta.RetentionPolicy{ProjectID: p.ID, Policy: text}
	if err := s.opt.Catalog.CreateRetentionPolicy(ctx, row); err != nil {
		return err
	}
	return retention.Schedule(ctx, q, row.ID, pol.Cron())
}

// proxyCreated finishes the creation of proxy-cache project p: its
// retention policy, and /v2 told. A failure is logged: the project exists.
func (s *Server) proxyCreated(ctx context.Context, p *meta.Project) {
	ctx = context.WithoutCancel(ctx)
	if err := s.proxyRetention(ctx, p); err != nil {
		s.opt.Logger.Warn("proxy-cache project: default retention policy not created", "project", p.Name, "err", err)
	}
	s.proxyChanged(ctx)
}

// proxyChanged tells /v2 that proxy-cache projects may have changed.
func (s *Server) proxyChanged(ctx context.Context) {
	if s.opt.Proxy == nil {
		return
	}
	if err := s.opt.Proxy.Reload(context.WithoutCancel(ctx)); err != nil {
		s.opt.Logger.Warn("reloading proxy-cache projects", "err", err)
	}
}

// projectRegistryID is a project's registry_id (nil: not a proxy-cache project).
func projectRegistryID(ps *meta.ProjectSettings) *int64 {
	v, ok := ps.Metadata[meta.ProxyRegistryKey]
	if !ok {
		return nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &id
}
