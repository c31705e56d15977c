package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// User is a directory user (Harbor's LdapUser).
type User struct {
	DN       string
	Username string
	Realname string
	Email    string
	// MemberOf holds the user's ldap_group_membership_attribute values.
	MemberOf []string
}

// scope maps Harbor's 0, 1, 2 to LDAP's base, one level, subtree.
func scope(n int) int {
	switch n {
	case 0:
		return goldap.ScopeBaseObject
	case 1:
		return goldap.ScopeSingleLevel
	}
	return goldap.ScopeWholeSubtree
}

// userFilter is the filter for uid (escaped) with ldap_filter.
func userFilter(c Config, valueFilter string) string {
	f := "(" + c.UID + "=" + valueFilter + ")"
	if extra := strings.TrimSpace(c.Filter); extra != "" {
		if !strings.HasPrefix(extra, "(") {
			extra = "(" + extra + ")"
		}
		f = "(&" + extra + f + ")"
	}
	return f
}

func (c Config) userAttrs() []string {
	attrs := []string{c.UID, "cn", "mail", "email"}
	if c.GroupMembershipAttr != "" {
		attrs = append(attrs, c.GroupMembershipAttr)
	}
	return attrs
}

func (c Config) toUser(e *goldap.Entry) User {
	u := User{DN: e.DN, Username: e.GetEqualFoldAttributeValue(c.UID), Realname: e.GetEqualFoldAttributeValue("cn"), Email: e.GetEqualFoldAttributeValue("mail")}
	if u.Email == "" {
		u.Email = e.GetEqualFoldAttributeValue("email")
	}
	if c.GroupMembershipAttr != "" {
		u.MemberOf = e.GetEqualFoldAttributeValues(c.GroupMembershipAttr)
	}
	return u
}

// searchUsers runs a user search of at most limit entries.
func (s *Service) searchUsers(ctx context.Context, c Config, filter string, limit int) ([]User, error) {
	var out []User
	err := s.with(ctx, c, func(cn *goldap.Conn) error {
		req := goldap.NewSearchRequest(c.BaseDN, scope(c.Scope), goldap.NeverDerefAliases, limit, int(c.Timeout.Seconds()), false,
			filter, c.userAttrs(), nil)
		res, err := cn.Search(req)
		if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			return err
		}
		out = out[:0]
		if res != nil {
			for _, e := range res.Entries {
				out = append(out, c.toUser(e))
			}
		}
		return nil
	})
	return out, err
}

// findUser returns the one user with uid name (nil if none or, as the
// name is then ambiguous, several).
func (s *Service) findUser(ctx context.Context, c Config, name string) (*User, error) {
	users, err := s.searchUsers(ctx, c, userFilter(c, goldap.EscapeFilter(name)), 2)
	if err != nil {
		return nil, err
	}
	if len(users) != 1 {
		if len(users) > 1 {
			s.opt.Log.WarnContext(ctx, "ldap: several directory entries have this user name: sign-in refused", "user", name)
		}
		return nil, nil
	}
	return &users[0], nil
}

// Verify implements auth.Directory: it finds the user's entry, binds as
// it with the password (on a connection of its own, from the same pool of
// slots) and onboards the user on first sign-in.
func (s *Service) Verify(ctx context.Context, name, password string) (*meta.User, error) {
	if password == "" {
		return nil, auth.ErrBadCredentials
	}
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	u, err := s.findUser(ctx, c, name)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, auth.ErrBadCredentials
	}
	err = s.with(ctx, c, func(cn *goldap.Conn) error {
		bindErr := cn.Bind(u.DN, password)
		if bindErr != nil && isNetwork(bindErr) {
			return bindErr
		}
		// Bound as the user now: back to the search DN before the
		// connection returns to the pool (or the pool drops it).
		if err := bindSearch(cn, c); err != nil {
			cn.Close()
		}
		return bindErr
	})
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInappropriateAuthentication,
		goldap.ErrorEmptyPassword) {
		return nil, auth.ErrBadCredentials
	}
	if err != nil {
		var le *goldap.Error
		if errors.As(err, &le) && !errors.Is(err, auth.ErrDirectoryUnavailable) {
			return nil, fmt.Errorf("ldap bind: %w", err)
		}
		return nil, err
	}
	user, err := s.onboard(ctx, *u)
	if err != nil {
		return nil, err
	}
	s.groups.forget(name) // groups are looked up afresh at sign-in
	return user, nil
}

// onboard returns the berth user of a directory user, creating it (with
// no local password) on first sign-in, as Harbor does.
func (s *Service) onboard(ctx context.Context, u User) (*meta.User, error) {
	if u.Username == "" {
		return nil, auth.ErrBadCredentials
	}
	user, err := s.opt.Store.GetUserByName(ctx, u.Username)
	if err == nil || !errors.Is(err, meta.ErrNotFound) {
		return user, err
	}
	user = &meta.User{Username: u.Username, Email: u.Email, Realname: u.Realname, Comment: "onboarded from LDAP"}
	err = s.opt.Store.CreateUser(ctx, user)
	if errors.Is(err, meta.ErrConflict) { // onboarded meanwhile by another request
		return s.opt.Store.GetUserByName(ctx, u.Username)
	}
	if err != nil {
		return nil, err
	}
	s.opt.Log.InfoContext(ctx, "ldap: user onboarded", "user", u.Username)
	return user, nil
}
