package oidc

import (
	"context"
	"errors"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// Groups is the auth.GroupSource of auth_mode oidc_auth: a user is in the
// OIDC user groups named by the groups claim of the user's last sign-in,
// for every way of signing in (session, CLI secret, token). The provider
// is not asked again between sign-ins: CLI secrets do not depend on its
// tokens.
type Groups struct {
	Store meta.AccessStore
}

var _ auth.GroupSource = (*Groups)(nil)

// UserGroups implements auth.GroupSource. The admin group's grant is the
// user's sysadmin flag, set at sign-in (Client.Onboard): admin is false.
func (g *Groups) UserGroups(ctx context.Context, id *auth.Identity) ([]int64, bool, error) {
	link, err := g.Store.GetOIDCUser(ctx, id.UserID)
	if errors.Is(err, meta.ErrNotFound) || err == nil && len(link.Groups) == 0 {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	keys := make([]string, len(link.Groups))
	for i, n := range link.Groups {
		keys[i] = strings.ToLower(n)
	}
	found, err := g.Store.FindUserGroups(ctx, meta.OIDCGroup, keys)
	if err != nil {
		return nil, false, err
	}
	ids := make([]int64, len(found))
	for i, ug := range found {
		ids[i] = ug.ID
	}
	return ids, false, nil
}
