package ldap

import (
	"context"
	"errors"
	"fmt"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// MaxSearch bounds the entries of a user or group search.
const MaxSearch = 1000

// Current is the configuration in force (the search password in clear:
// never show it).
func (s *Service) Current() (Config, error) {
	c, err := ConfigFrom(s.opt.Settings) // ldap_url may be empty: a ping names the server to try
	if err != nil {
		return c, errUnavailable(err)
	}
	return c, nil
}

// Ping connects with c and binds as its search DN (anonymously without
// one); nil means the configuration works. It uses a connection of its
// own: c need not be the configuration in force.
func (s *Service) Ping(ctx context.Context, c Config) error {
	if c.URL == "" {
		return errors.New("ldap_url is empty")
	}
	if err := s.acquire(ctx, c); err != nil {
		return err
	}
	defer func() { <-s.sem }()
	cn, err := s.dial(c)
	if err != nil {
		return fmt.Errorf("cannot connect to %s: %v", c.URL, err)
	}
	defer cn.Close()
	if err := bindSearch(cn, c); err != nil {
		return fmt.Errorf("bind as %q refused: %v", c.SearchDN, err)
	}
	if c.BaseDN != "" {
		_, err := cn.Search(goldap.NewSearchRequest(c.BaseDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1,
			int(c.Timeout.Seconds()), false, "(objectClass=*)", []string{"dn"}, nil))
		if err != nil {
			return fmt.Errorf("ldap_base_dn %q: %v", c.BaseDN, err)
		}
	}
	return nil
}

// SearchUsers returns the users whose uid contains name (every user for
// ""), at most MaxSearch.
func (s *Service) SearchUsers(ctx context.Context, name string) ([]User, error) {
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	f := "*"
	if name != "" {
		f = "*" + goldap.EscapeFilter(name) + "*"
	}
	return s.searchUsers(ctx, c, userFilter(c, f), MaxSearch)
}

// ImportFailure is a uid ImportUsers did not import, and why.
type ImportFailure struct {
	UID, Reason string
}

// ImportUsers onboards the users with these uids; the others are returned
// with the reason (not in the directory, already a berth user).
func (s *Service) ImportUsers(ctx context.Context, uids []string) (imported []string, failed []ImportFailure, err error) {
	c, err := s.current()
	if err != nil {
		return nil, nil, err
	}
	for _, uid := range uids {
		u, err := s.findUser(ctx, c, uid)
		if err != nil {
			return imported, failed, err
		}
		if u == nil {
			failed = append(failed, ImportFailure{uid, "not found in the directory"})
			continue
		}
		if _, err := s.opt.Store.GetUserByName(ctx, u.Username); err == nil {
			failed = append(failed, ImportFailure{uid, "the user already exists"})
			continue
		} else if !errors.Is(err, meta.ErrNotFound) {
			return imported, failed, err
		}
		if _, err := s.onboard(ctx, *u); err != nil {
			return imported, failed, err
		}
		imported = append(imported, u.Username)
	}
	return imported, failed, nil
}

// Group is a directory group.
type Group struct {
	DN, Name string
}

// SearchGroups returns the groups under ldap_group_base_dn whose name
// (ldap_group_attribute_name) contains name, or the group with DN dn.
func (s *Service) SearchGroups(ctx context.Context, name, dn string) ([]Group, error) {
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	nameAttr := c.GroupNameAttr
	if nameAttr == "" {
		nameAttr = "cn"
	}
	base, sc, f := c.GroupBaseDN, scope(c.GroupScope), "("+nameAttr+"=*"+goldap.EscapeFilter(name)+"*)"
	if name == "" {
		f = "(" + nameAttr + "=*)"
	}
	if dn != "" {
		base, sc, f = dn, goldap.ScopeBaseObject, "(objectClass=*)"
	}
	if base == "" {
		return nil, errors.New("ldap_group_base_dn is empty")
	}
	f = groupFilter(c, f)
	var out []Group
	err = s.with(ctx, c, func(cn *goldap.Conn) error {
		res, err := cn.Search(goldap.NewSearchRequest(base, sc, goldap.NeverDerefAliases, MaxSearch, int(c.Timeout.Seconds()), false,
			f, []string{nameAttr}, nil))
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return nil
		}
		if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			return err
		}
		out = out[:0]
		for _, e := range res.Entries {
			out = append(out, Group{DN: e.DN, Name: e.GetEqualFoldAttributeValue(nameAttr)})
		}
		return nil
	})
	return out, err
}

// GroupByDN returns the directory group dn (nil if there is none).
func (s *Service) GroupByDN(ctx context.Context, dn string) (*Group, error) {
	gs, err := s.SearchGroups(ctx, "", dn)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	return &gs[0], nil
}

// IsUnavailable reports an error that means the directory did not answer.
func IsUnavailable(err error) bool { return errors.Is(err, auth.ErrDirectoryUnavailable) }
