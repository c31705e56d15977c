// Package identity decides where users sign in: berth's own user table
// (auth_mode db_auth), an LDAP directory (ldap_auth, identity/ldap) or an
// OpenID Connect provider (oidc_auth). Router plugs the directory of the
// current auth mode into auth.Authenticator, for passwords (Directory)
// and for the user groups that make users project members (GroupSource).
// The local administrator (auth.BreakGlassUser) always signs in with its
// local password.
package identity

import (
	"context"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// Router is an auth.Directory and auth.GroupSource that hands each call to
// the one registered for the auth mode in force.
type Router struct {
	Settings *settings.Settings
	// Directories by auth mode (settings.LDAPAuth, settings.OIDCAuth).
	Directories map[string]auth.Directory
	// Groups by auth mode; a Directory that is also a GroupSource need
	// not be listed again.
	Groups map[string]auth.GroupSource
}

var (
	_ auth.Directory   = (*Router)(nil)
	_ auth.GroupSource = (*Router)(nil)
)

// Mode is the auth mode in force.
func (r *Router) Mode() string { return r.Settings.Get().Identity.AuthMode }

func (r *Router) directory() auth.Directory {
	if r == nil {
		return nil
	}
	return r.Directories[r.Mode()]
}

// Active implements auth.Directory.
func (r *Router) Active() bool {
	d := r.directory()
	return d != nil && d.Active()
}

// Verify implements auth.Directory.
func (r *Router) Verify(ctx context.Context, name, password string) (*meta.User, error) {
	d := r.directory()
	if d == nil {
		return nil, auth.ErrBadCredentials
	}
	return d.Verify(ctx, name, password)
}

// UserGroups implements auth.GroupSource: the groups the current mode's
// source says the user is in (none in db_auth).
func (r *Router) UserGroups(ctx context.Context, id *auth.Identity) ([]int64, bool, error) {
	mode := r.Mode()
	src, ok := r.Groups[mode]
	if !ok {
		src, _ = r.Directories[mode].(auth.GroupSource)
	}
	if src == nil {
		return nil, false, nil
	}
	return src.UserGroups(ctx, id)
}
