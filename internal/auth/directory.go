package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// BreakGlassUser is the local administrator created at the first start:
// whatever the auth mode, it signs in with its local password, so a
// misconfigured or unreachable directory never locks the registry out.
const BreakGlassUser = "admin"

// ErrDirectoryUnavailable: the user directory (LDAP) could not answer in
// time. Clients are told so (503), not that their password is wrong.
var ErrDirectoryUnavailable = errors.New("the user directory is unavailable: try again later")

// Directory is an external source of users (LDAP) that takes over
// password sign-in while Active.
type Directory interface {
	// Active reports whether users (but BreakGlassUser) sign in against
	// the directory now.
	Active() bool
	// Verify checks name and password against the directory and returns
	// the user, onboarded into the users table on first sign-in. It
	// returns ErrBadCredentials for an unknown name or a wrong password
	// and an error wrapping ErrDirectoryUnavailable when the directory
	// cannot be reached.
	Verify(ctx context.Context, name, password string) (*meta.User, error)
}

// GroupSource says which user groups a user is in now, and whether one
// of them makes the user a system administrator (Harbor's
// ldap_group_admin_dn, oidc_admin_group). It is asked on every request
// that decides rights, and caches what it must.
type GroupSource interface {
	UserGroups(ctx context.Context, id *Identity) (groups []int64, admin bool, err error)
}

// Enrich adds to a user's identity the groups the user is in now (and the
// system administrator role one of them grants). Every way of signing in
// calls it: Basic credentials (Login), sessions and tokens, so group
// changes apply without a new login.
func (a *Authenticator) Enrich(ctx context.Context, id *Identity) error {
	if a.Groups == nil || id.Kind != UserKind || id.Name == BreakGlassUser {
		return nil
	}
	groups, admin, err := a.Groups.UserGroups(ctx, id)
	if err != nil {
		return err
	}
	id.Groups, id.GroupAdmin = groups, admin
	id.SysAdmin = id.SysAdmin || admin
	return nil
}

// GroupsFingerprint identifies a set of groups and the administrator role
// they grant, whatever their order: a registry token issued to a
// directory user carries it (Claims.Groups).
func GroupsFingerprint(groups []int64, admin bool) string {
	sorted := slices.Clone(groups)
	slices.Sort(sorted)
	h := sha256.New()
	fmt.Fprint(h, admin, sorted)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Role is id's effective role in a project: the highest of the user's
// direct membership and those of the user's groups (id.Groups).
func (a *Authenticator) Role(ctx context.Context, id *Identity, projectID int64) (rbac.Role, error) {
	if id.Kind != UserKind {
		return rbac.RoleNone, nil
	}
	direct, err := a.Store.MemberRole(ctx, projectID, id.UserID)
	if err != nil {
		return rbac.RoleNone, err
	}
	roles := []rbac.Role{rbac.Role(direct)}
	if len(id.Groups) > 0 {
		gr, err := a.Store.GroupRoles(ctx, projectID, id.Groups)
		if err != nil {
			return rbac.RoleNone, err
		}
		for _, r := range gr {
			roles = append(roles, rbac.Role(r))
		}
	}
	return rbac.Highest(roles...), nil
}

// verifyDirectory signs a user in against the directory.
func (a *Authenticator) verifyDirectory(ctx context.Context, name, secret string) (*Identity, error) {
	if secret == "" {
		return nil, ErrBadCredentials // an LDAP bind without a password is anonymous: never a sign-in
	}
	u, err := a.Directory.Verify(ctx, name, secret)
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			return nil, ErrBadCredentials
		}
		if !errors.Is(err, ErrDirectoryUnavailable) {
			err = fmt.Errorf("%w: %v", ErrDirectoryUnavailable, err)
		}
		return nil, err
	}
	if u.Disabled {
		return nil, ErrBadCredentials
	}
	return &Identity{Kind: UserKind, Name: u.Username, UserID: u.ID, SysAdmin: u.SysAdmin, External: true}, nil
}
