package oidc

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// identityOf reads the configured claims.
func identityOf(cfg settings.OIDC, issuer, subject string, claims map[string]any) (*Identity, error) {
	str := func(k string) string { s, _ := claims[k].(string); return s }
	id := &Identity{Issuer: issuer, Subject: subject, Email: str("email"), Name: str("name")}
	if cfg.UserClaim != "" {
		id.Username = str(cfg.UserClaim)
		if id.Username == "" {
			return nil, fmt.Errorf("%w: the ID token has no string claim %q (oidc_user_claim)", ErrProvider, cfg.UserClaim)
		}
	} else {
		for _, k := range []string{"preferred_username", "name", "email"} {
			if id.Username = str(k); id.Username != "" {
				break
			}
		}
		if id.Username == "" {
			return nil, fmt.Errorf("%w: the ID token names no user (set oidc_user_claim)", ErrProvider)
		}
	}
	if cfg.GroupsClaim != "" {
		var filter *regexp.Regexp
		if cfg.GroupFilter != "" {
			filter, _ = regexp.Compile(cfg.GroupFilter) // checked when it was set
		}
		switch g := claims[cfg.GroupsClaim].(type) {
		case []any:
			for _, v := range g {
				if s, ok := v.(string); ok && s != "" && (filter == nil || filter.MatchString(s)) {
					id.Groups = append(id.Groups, s)
				}
			}
		case string: // some providers send a single group as a string
			if g != "" && (filter == nil || filter.MatchString(g)) {
				id.Groups = []string{g}
			}
		}
	}
	return id, nil
}

// ErrUsername: the user claim's value cannot be a user name here, or is
// the name of another user (then ErrUsernameTaken too).
var (
	ErrUsername      = errors.New("the identity's user name cannot be used")
	ErrUsernameTaken = errors.New("the user name is taken")
)

// validUsername is the API's rule for user names.
func validUsername(name string) bool {
	return name != "" && len(name) <= 255 && !strings.HasPrefix(name, meta.RobotPrefix) && !strings.ContainsAny(name, `,"~#$%:`)
}

// InAdminGroup reports whether id is in the configured admin group.
func InAdminGroup(cfg settings.OIDC, id *Identity) bool {
	if cfg.AdminGroup == "" {
		return false
	}
	for _, g := range id.Groups {
		if g == cfg.AdminGroup {
			return true
		}
	}
	return false
}

// Onboard returns the user of id: the one linked to its issuer and
// subject, or a new one (oidc_auto_onboard) named by the user claim. A
// local user of the same name is never taken over. The user's sysadmin
// flag follows the admin group: granted while in it, taken back when it
// was the group that granted it. adminChanged reports that the user's
// sysadmin flag changed (tokens issued before carry the old rights).
func (c *Client) Onboard(ctx context.Context, id *Identity) (u *meta.User, adminChanged bool, err error) {
	cfg := c.Settings()
	link, err := c.Store.GetOIDCUserBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		if u, err = c.Store.GetUser(ctx, link.UserID); err != nil {
			return nil, false, err
		}
	case errors.Is(err, meta.ErrNotFound):
		if !cfg.AutoOnboard {
			return nil, false, ErrNotOnboarded
		}
		if u, link, err = c.create(ctx, id, id.Username); err != nil {
			return nil, false, err
		}
	default:
		return nil, false, err
	}
	if err := c.syncGroups(ctx, u.ID, id.Groups); err != nil {
		return nil, false, err
	}
	admin := InAdminGroup(cfg, id)
	switch {
	case admin && !u.SysAdmin:
		u.SysAdmin, adminChanged = true, true
		err = c.Store.SetOIDCAdmin(ctx, u.ID, true, true)
	case !admin && link.AdminByGroup:
		u.SysAdmin, adminChanged = false, true
		err = c.Store.SetOIDCAdmin(ctx, u.ID, false, false)
	default:
		err = nil
	}
	return u, adminChanged, err
}

// OnboardAs creates the user of id under the name the user chose
// (Harbor's onboarding when oidc_auto_onboard is off), with its groups
// and admin flag as Onboard gives them. ErrUsername: the name is invalid
// or taken; meta.ErrConflict: the identity has a user already.
func (c *Client) OnboardAs(ctx context.Context, id *Identity, username string) (*meta.User, error) {
	if _, err := c.Store.GetOIDCUserBySubject(ctx, id.Issuer, id.Subject); err == nil {
		return nil, meta.ErrConflict
	} else if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if _, _, err := c.create(ctx, id, username); err != nil {
		return nil, err
	}
	u, _, err := c.Onboard(ctx, id) // groups and the admin flag
	return u, err
}

// create makes the user of id named username, linked to its issuer and
// subject.
func (c *Client) create(ctx context.Context, id *Identity, username string) (*meta.User, *meta.OIDCUser, error) {
	if !validUsername(username) {
		return nil, nil, fmt.Errorf("%w: %q is not a valid user name", ErrUsername, username)
	}
	u := &meta.User{Username: username, Email: id.Email, Realname: id.Name, Comment: "onboarded from OIDC"}
	link := &meta.OIDCUser{Issuer: id.Issuer, Subject: id.Subject}
	if err := c.Store.CreateOIDCUser(ctx, u, link); errors.Is(err, meta.ErrConflict) {
		return nil, nil, fmt.Errorf("%w (%w): user name %q is taken by another user", ErrUsername, ErrUsernameTaken, username)
	} else if err != nil {
		return nil, nil, err
	}
	return u, link, nil
}

// MaxGroups bounds the groups taken from one ID token.
const MaxGroups = 256

// syncGroups records the user's groups and makes an OIDC user group
// (meta.OIDCGroup) of each that has none yet, as Harbor does, so that an
// administrator can make it a project member.
func (c *Client) syncGroups(ctx context.Context, userID int64, groups []string) error {
	if len(groups) > MaxGroups {
		groups = groups[:MaxGroups]
	}
	if len(groups) > 0 {
		keys := make([]string, len(groups))
		for i, g := range groups {
			keys[i] = strings.ToLower(g)
		}
		have, err := c.Store.FindUserGroups(ctx, meta.OIDCGroup, keys)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, g := range have {
			known[g.Key()] = true
		}
		for _, g := range groups {
			if known[strings.ToLower(g)] {
				continue
			}
			err := c.Store.CreateUserGroup(ctx, &meta.UserGroup{Name: g, Type: meta.OIDCGroup})
			if err != nil && !errors.Is(err, meta.ErrConflict) { // another sign-in made it first
				return err
			}
			known[strings.ToLower(g)] = true
		}
	}
	return c.Store.SetOIDCGroups(ctx, userID, groups)
}
