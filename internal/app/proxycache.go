package app

import (
	"context"
	"log/slog"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/proxy"
	"github.com/berth-registry/berth/internal/replication"
)

// newProxyCache is the proxy-cache engine of the registry and the API,
// with the proxy-cache projects read once; Run keeps them fresh. Its
// upstreams are the registries of a (set up with the API).
func newProxyCache(ctx context.Context, cfg config.Config, store *sqlstore.Store, blobs blob.Store, a *access, log *slog.Logger) (*proxy.Engine, error) {
	e := proxy.New(proxy.Options{Meta: store, Blobs: blobs, Registries: proxyRegistries{a},
		Timeout: cfg.ProxyCache.Timeout, Refresh: cfg.ProxyCache.Refresh,
		TagTTL: cfg.ProxyCache.TagTTL, Logger: log})
	return e, e.Reload(ctx)
}

// proxyRegistries gives the proxy the registries of replication
// (internal/replication): their go-containerregistry host, credential
// and transport (rate limited, TLS as the registry says).
type proxyRegistries struct{ a *access }

func (p proxyRegistries) Upstream(ctx context.Context, id int64) (*proxy.Upstream, error) {
	rs := p.a.registries
	if rs == nil { // without --auth there is no registry API
		return nil, meta.ErrNotFound
	}
	r, err := rs.Remote(ctx, id)
	if err != nil {
		return nil, err
	}
	u := r.Registry.URL
	if r.Registry.Type == replication.TypeDockerHub {
		u = "https://" + name.DefaultRegistry
	}
	return &proxy.Upstream{URL: u, Insecure: r.Registry.Insecure, Auth: r.Auth, Transport: r.Transport,
		DockerHub: r.Registry.Type == replication.TypeDockerHub}, nil
}
