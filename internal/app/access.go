package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/proxy"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/sign"
	"github.com/berth-registry/berth/internal/ui"
	"github.com/berth-registry/berth/internal/webhook"
)

// access is the wiring of access control: the gate in front of /v2 and the
// token endpoint, and the audit log behind them. Without --auth it holds
// only the audit sink.
type access struct {
	store     meta.AccessStore
	gate      *auth.Gate
	authn     *auth.Authenticator
	sink      *audit.Sink
	revoked   *auth.Revocations
	retention time.Duration
	log       *slog.Logger
	// system is what the API reports about the deployment, and the
	// run-time settings (shared with the registry).
	system api.SystemOptions
	// identity routes sign-in to the auth mode's directory (identity.go).
	identity *identity.Router
	ldap     *ldap.Service
	// events is the bus registry and API publish to (webhooks,
	// replication triggers, scan on push subscribe).
	events *events.Bus
	// signing enforces the signature policies and keeps the keys (sign.go).
	signing *sign.Checker
	// proxy serves proxy-cache projects (proxycache.go).
	proxy *proxy.Engine
	// registries are replication's and proxy caches' remote registries
	// (replication.go); nil without --auth.
	registries *replication.Registries
	// replication runs replication policies (replication.go); nil
	// without the API.
	replication *replication.Engine
	// api is the management API (nil without --auth): /metrics asks it
	// whether a caller is an administrator.
	api *api.Server
	// webhooks delivers the bus's events to projects' receivers
	// (webhook.go); nil without the API.
	webhooks *webhook.Service
	// scan is the built-in scanner (scan.go).
	scan *scanning
}

// sessionRevocationAge is how long a logged-out session's id is kept:
// longer than any session lives.
const sessionRevocationAge = 48 * time.Hour

// pruneAudit is the periodic job that applies the audit retention of
// --audit-retention-days, unless scheduled reports that a purge schedule
// (Harbor's /system/purgeaudit/schedule) replaces it; it also forgets
// logged-out sessions whose cookies have expired.
func (a *access) pruneAudit(ctx context.Context, scheduled func(context.Context) (bool, error)) error {
	if a.revoked != nil {
		if err := a.revoked.PruneSessions(ctx, sessionRevocationAge); err != nil {
			return err
		}
	}
	if on, err := scheduled(ctx); err != nil || on {
		return err
	}
	return audit.Prune(ctx, a.store, a.retention, a.log)
}

// setupAccess bootstraps the administrator and the library project on first
// start, loads (or creates) the token key, and starts the audit log.
func setupAccess(ctx context.Context, cfg config.Config, store meta.AccessStore, log *slog.Logger) (*access, error) {
	a := &access{store: store, sink: audit.NewSink(store, log),
		retention: time.Duration(cfg.Auth.AuditRetentionDays) * 24 * time.Hour, log: log}
	if !cfg.Auth.Enabled {
		return a, nil
	}
	if err := bootstrap(ctx, store, log); err != nil {
		a.close()
		return nil, err
	}
	keyPath := cfg.Auth.TokenKey
	if keyPath == "" {
		keyPath = filepath.Join(cfg.DataDir, "token.key")
	}
	key, err := auth.LoadOrCreateKey(keyPath)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("token key: %w", err)
	}
	revStore, ok := store.(meta.RevocationStore)
	if !ok {
		a.close()
		return nil, fmt.Errorf("%T keeps no token revocations", store)
	}
	a.revoked = &auth.Revocations{Store: revStore, Log: log}
	if err := a.revoked.Refresh(ctx); err != nil {
		a.close()
		return nil, fmt.Errorf("reading token revocations: %w", err)
	}
	a.authn = &auth.Authenticator{
		Store:       store,
		Revocations: a.revoked,
		Limiter: auth.NewLimiter(auth.LimiterConfig{SlowAfter: cfg.Auth.LoginSlowAfter, LockAfter: cfg.Auth.LoginLockAfter,
			Window: cfg.Auth.LoginLockout, Lockout: cfg.Auth.LoginLockout, MaxDelay: 5 * time.Second}),
		OnLogin: func(ctx context.Context, name, remote string, ok bool) {
			a.sink.Record(meta.AuditRecord{Username: name, Remote: remote, Operation: "login", ResourceType: "user", Resource: name, Success: ok})
		},
	}
	a.revoked.OnChange = a.authn.Forget
	tokens := auth.NewTokenService(key, "berth", cfg.Auth.TokenService, cfg.Auth.TokenTTL)
	tokens.Revocations = a.revoked
	a.gate = &auth.Gate{
		Auth:               a.authn,
		Tokens:             tokens,
		Realm:              cfg.Auth.TokenRealm,
		ExternalURL:        cfg.Proxy.ExternalURL,
		AutoCreateProjects: cfg.Auth.AutoCreateProjects,
		Log:                log,
	}
	return a, nil
}

// bootstrap creates the administrator (password from BERTH_ADMIN_PASSWORD,
// or generated and printed once; only its hash is stored) and the public
// library project, if they do not exist yet.
func bootstrap(ctx context.Context, store meta.AccessStore, log *slog.Logger) error {
	admin, err := store.GetUserByName(ctx, "admin")
	if errors.Is(err, meta.ErrNotFound) {
		pw := os.Getenv("BERTH_ADMIN_PASSWORD")
		generated := pw == ""
		if generated {
			pw = auth.NewSecret(20)
		}
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return fmt.Errorf("BERTH_ADMIN_PASSWORD: %w", err)
		}
		admin = &meta.User{Username: "admin", PasswordHash: hash, SysAdmin: true, Realname: "system admin"}
		err = store.CreateUser(ctx, admin)
		if err != nil && !errors.Is(err, meta.ErrConflict) {
			return err
		}
		// Another replica starting at the same moment may have won; then
		// its password stands and ours must not be shown.
		if generated && err == nil {
			// Printed once, on the terminal, never into the structured log.
			fmt.Fprintf(os.Stderr, "\nberth: created user \"admin\" with password %s\n"+
				"berth: it is shown only now; change it, or set BERTH_ADMIN_PASSWORD before the first start\n\n", pw)
		}
		if err == nil {
			log.Info("created the administrator account", "user", "admin", "password_from_env", !generated)
		}
		if admin, err = store.GetUserByName(ctx, "admin"); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := store.GetProjectByName(ctx, "library"); errors.Is(err, meta.ErrNotFound) {
		err := store.CreateProject(ctx, &meta.Project{Name: "library", Public: true, OwnerID: admin.ID})
		if err != nil && !errors.Is(err, meta.ErrConflict) {
			return err
		}
	} else if err != nil {
		return err
	}
	return nil
}

// mountAPI serves the management API (/api/v2.0) and its login endpoints
// (/c/) on mux. Without --auth there are no accounts to manage: nothing is
// mounted.
func (a *access) mountAPI(mux *http.ServeMux, cfg config.Config, store *sqlstore.Store, blobs blob.Store, queue *jobs.Queue, log *slog.Logger) error {
	if a.authn == nil {
		return nil
	}
	keyPath := cfg.Auth.SessionKey
	if keyPath == "" {
		keyPath = filepath.Join(cfg.DataDir, "session.key")
	}
	key, err := api.LoadOrCreateSessionKey(keyPath)
	if err != nil {
		return err
	}
	if err := a.setupIdentity(key); err != nil {
		return err
	}
	if err := a.setupReplication(cfg.Replication, key, store, queue, mux); err != nil {
		return err
	}
	if err := a.setupWebhooks(context.Background(), cfg, store, key, queue.Holder, log); err != nil {
		return err
	}
	h := api.New(api.Options{Access: signingAccess{a.store, a.signing}, Store: store, Catalog: store, Auth: a.authn, Audit: a.sink.Record,
		DeletesDisabled: !cfg.DeleteEnabled, ExternalURL: cfg.Proxy.ExternalURL,
		SessionKey: key, Version: Version, Logger: log, Blobs: blobs,
		System: a.system, Jobs: queue, LDAP: a.ldap, Events: a.events, Registries: a.registries, Proxy: a.proxy,
		Webhooks: a.webhooks, Signing: a.signing, Scan: a.scan.scanner, Replication: a.replication})
	a.api = h
	mux.Handle(api.Prefix+"/", h)
	mux.Handle("/c/", h)
	// The web UI answers every other path; its pages call h in process.
	mux.Handle("/", ui.New(ui.Options{API: h, ExternalURL: cfg.Proxy.ExternalURL, Version: Version, Logger: log,
		Manifest: func(ctx context.Context, repo, dgst string) ([]byte, error) {
			m, err := store.GetManifest(ctx, repo, dgst, true)
			if err != nil {
				return nil, err
			}
			return m.Body, nil
		}}))
	return nil
}

// authorizer is the registry's Authorizer: nil (open) without --auth.
func (a *access) authorizer() registry.Authorizer {
	if a.gate == nil {
		return nil
	}
	return a.gate
}

// auditRegistry records a registry operation with the caller and address.
// Only the project's name is known here; the store gives the record that
// project's id when it writes it (within the sink's flush interval).
func (a *access) auditRegistry(req *http.Request, operation, resourceType, repo, ref string) {
	a.sink.Record(meta.AuditRecord{
		Username: auth.FromContext(req.Context()).Name, Remote: req.RemoteAddr, Operation: operation,
		ResourceType: resourceType, Resource: repo + refSeparator(ref) + ref, Project: auth.ProjectOf(repo), Success: true,
	})
}

func refSeparator(ref string) string {
	if len(ref) > 7 && ref[:7] == "sha256:" || len(ref) > 7 && ref[:7] == "sha512:" {
		return "@"
	}
	return ":"
}

func (a *access) close() {
	a.sink.Close()
}
