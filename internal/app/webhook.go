package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/webhook"
)

// setupWebhooks makes the webhook service (internal/webhook): policies
// through the API, events from the bus into its buffer, deliveries run
// by runJobs under this replica's holder name. Secrets are sealed with a
// key derived from the session key, as the settings' are.
func (a *access) setupWebhooks(ctx context.Context, cfg config.Config, store *sqlstore.Store, sessionKey []byte, holder string, log *slog.Logger) error {
	sealer, err := settings.NewSealer(sessionKey)
	if err != nil {
		return fmt.Errorf("webhook sealing key: %w", err)
	}
	w := cfg.Webhook
	a.webhooks = webhook.New(webhook.Options{Store: store, Projects: store, Sealer: sealer, Host: registryHost(cfg),
		Holder: holder, Log: log, Buffer: w.Buffer, Workers: w.Workers, Timeout: w.Timeout, RetryFor: w.RetryFor,
		RetryMax: w.RetryMax})
	a.webhooks.Subscribe(ctx, a.events)
	return nil
}

// registryHost is the host[:port] clients pull from, for the resource
// URLs of webhook payloads: --external-url's, else this host and the
// listening port.
func registryHost(cfg config.Config) string {
	if u, err := url.Parse(cfg.Proxy.ExternalURL); err == nil && u.Host != "" {
		return u.Host
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return cfg.Addr
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	return net.JoinHostPort(host, port)
}
