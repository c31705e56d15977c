package app

import (
	"time"

	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/identity/oidc"
	"github.com/berth-registry/berth/internal/settings"
)

// setupOIDC wires auth_mode oidc_auth into sign-in: users are in the OIDC
// user groups of their last sign-in's groups claim; only the local
// administrator keeps a local password (break-glass), OIDC users give
// clients their CLI secret, which works for oidc_cli_secret_duration days.
func (a *access) setupOIDC(router *identity.Router) {
	router.Groups[settings.OIDCAuth] = &oidc.Groups{Store: a.store}
	a.authn.OnlyBreakGlassPasswords = func() bool {
		return a.system.Settings.Get().Identity.AuthMode == settings.OIDCAuth
	}
	a.authn.CLISecretLifetime = func() time.Duration {
		return time.Duration(a.system.Settings.Get().OIDC.CLISecretDays) * 24 * time.Hour
	}
}
