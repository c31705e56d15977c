package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/settings"
)

// replicationSubject is the name berth's own registry sees replication's
// requests under (in tokens, the audit log and events).
const replicationSubject = "replication"

// setupReplication makes the registries of replication and proxy caches
// (their credentials sealed with a key derived from the session key every
// replica shares, as write-only settings are) and the replication engine:
// its job kind on queue, its event trigger on the bus, and berth's own
// /v2 (served by v2, in process, with tokens of its own) as the local
// side of every copy.
func (a *access) setupReplication(cfg config.Replication, sessionKey []byte, store *sqlstore.Store, queue *jobs.Queue, v2 http.Handler) error {
	sealer, err := settings.NewSealer(sessionKey)
	if err != nil {
		return fmt.Errorf("registry credentials sealing key: %w", err)
	}
	a.registries = replication.New(store, sealer, a.log)
	a.registries.UserAgent = "berth/" + Version
	a.registries.Rate, a.registries.Burst = cfg.Rate, cfg.Burst
	local := &replication.Local{Handler: v2, Catalog: store, EnsureProject: ensureProject(store)}
	if a.gate != nil {
		local.Token = func(repos []string) (string, error) {
			access := make([]auth.Access, 0, len(repos))
			for _, r := range repos {
				access = append(access, auth.Access{Type: "repository", Name: r, Actions: []string{"pull", "push", "delete"}})
			}
			tok, _, err := a.gate.Tokens.Issue(replicationSubject, access)
			return tok, err
		}
	}
	a.replication = &replication.Engine{Registries: a.registries, Store: store, Jobs: queue, Local: local, Log: a.log,
		Workers: cfg.Workers}
	a.replication.Register(queue)
	a.replication.Subscribe(a.events)
	return nil
}

// ensureProject creates a missing project (private, owned by the
// administrator) for a pull-mode copy.
func ensureProject(store meta.AccessStore) func(context.Context, string) error {
	return func(ctx context.Context, name string) error {
		if _, err := store.GetProjectByName(ctx, name); !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		admin, err := store.GetUserByName(ctx, "admin")
		if err != nil {
			return err
		}
		err = store.CreateProject(ctx, &meta.Project{Name: name, OwnerID: admin.ID})
		if errors.Is(err, meta.ErrConflict) {
			return nil
		}
		return err
	}
}

// registryHealthEvery is how often every registry's status is refreshed
// (Harbor's period).
const registryHealthEvery = replication.HealthEvery
