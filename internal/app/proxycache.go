package app

import (
	"context"
	"log/slog"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/proxy"
)

// newProxyCache is the proxy-cache engine of the registry and the API,
// with the proxy-cache projects read once; Run keeps them fresh.
func newProxyCache(ctx context.Context, cfg config.Config, store *sqlstore.Store, blobs blob.Store, log *slog.Logger) (*proxy.Engine, error) {
	e := proxy.New(proxy.Options{Meta: store, Blobs: blobs, Registries: noRegistries{},
		Timeout: cfg.ProxyCache.Timeout, Refresh: cfg.ProxyCache.Refresh,
		TagTTL: cfg.ProxyCache.TagTTL, Logger: log})
	return e, e.Reload(ctx)
}

// noRegistries: no registry endpoints are known yet.
type noRegistries struct{}

func (noRegistries) Upstream(context.Context, int64) (*proxy.Upstream, error) {
	return nil, meta.ErrNotFound
}
