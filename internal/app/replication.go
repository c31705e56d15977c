package app

import (
	"fmt"

	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/settings"
)

// setupReplication makes the registries of replication and proxy caches
// (internal/replication): their credentials sealed with a key derived
// from the session key every replica shares, as write-only settings are.
func (a *access) setupReplication(sessionKey []byte, store *sqlstore.Store) error {
	sealer, err := settings.NewSealer(sessionKey)
	if err != nil {
		return fmt.Errorf("registry credentials sealing key: %w", err)
	}
	a.registries = replication.New(store, sealer, a.log)
	a.registries.UserAgent = "berth/" + Version
	return nil
}

// registryHealthEvery is how often every registry's status is refreshed
// (Harbor's period).
const registryHealthEvery = replication.HealthEvery
