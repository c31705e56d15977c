package app

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// setupIdentity wires how users sign in: the identity router (the
// directory of each auth mode, see identity.Router), the sealing of
// write-only settings (with a key derived from the session key every
// replica shares) and the audit of break-glass sign-ins.
func (a *access) setupIdentity(sessionKey []byte) error {
	sealer, err := settings.NewSealer(sessionKey)
	if err != nil {
		return fmt.Errorf("settings sealing key: %w", err)
	}
	a.system.Settings.SetSealer(sealer)
	a.ldap = ldap.New(ldap.Options{Settings: a.system.Settings, Store: a.store, Log: a.log})
	router := &identity.Router{Settings: a.system.Settings, Groups: map[string]auth.GroupSource{},
		Directories: map[string]auth.Directory{settings.LDAPAuth: a.ldap}}
	a.identity = router
	a.authn.Directory, a.authn.Groups = router, router
	a.setupOIDC(router)
	a.authn.OnBreakGlass = func(ctx context.Context, name, remote string) {
		a.log.WarnContext(ctx, "break-glass sign-in: the local administrator signed in with its local password", "user", name,
			"remote", remote, "auth_mode", a.system.Settings.Get().Identity.AuthMode)
		// A second login record beside OnLogin's, which says why it is
		// allowed: break-glass sign-ins stand out in the audit log.
		a.sink.Record(meta.AuditRecord{Username: name, Remote: remote, Operation: "login", ResourceType: "user",
			Resource: name + " (break-glass: local password under auth_mode " + a.system.Settings.Get().Identity.AuthMode + ")",
			Success:  true})
	}
	return nil
}
