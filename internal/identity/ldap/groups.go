package ldap

import (
	"context"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

// Bounds of the nested group expansion.
const (
	// MaxDepth is how many levels of groups in groups are followed.
	MaxDepth = 10
	// MaxGroups bounds the groups one user is found in.
	MaxGroups = 1000
)

// inChainRule is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: a filter
// member:1.2.840.113556.1.4.1941:=DN matches every group DN is in,
// through any depth of nesting, in one search.
const inChainRule = "1.2.840.113556.1.4.1941"

// adCapability is LDAP_CAP_ACTIVE_DIRECTORY_OID in a root DSE's
// supportedCapabilities.
const adCapability = "1.2.840.113556.1.4.800"

// groupCache keeps each user's groups for ldap_group_cache_ttl.
type groupCache struct {
	mu sync.Mutex
	m  map[string]cachedGroups
	// flights makes concurrent look-ups of one user wait for one.
	flights map[string]*flight
}

type cachedGroups struct {
	key     string // the configuration's
	groups  []int64
	admin   bool
	gone    bool // the user is not in the directory
	expires time.Time
}

type flight struct {
	done chan struct{}
	res  cachedGroups
	err  error
}

const maxCachedUsers = 10_000

func (g *groupCache) get(user, key string) (cachedGroups, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.m[user]
	return c, ok && c.key == key && time.Now().Before(c.expires)
}

func (g *groupCache) put(user string, c cachedGroups) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil || len(g.m) >= maxCachedUsers {
		g.m = map[string]cachedGroups{}
	}
	g.m[user] = c
}

func (g *groupCache) forget(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m, user)
}

// do runs fn once for concurrent callers about the same user.
func (g *groupCache) do(user string, fn func() (cachedGroups, error)) (cachedGroups, error) {
	g.mu.Lock()
	if f, ok := g.flights[user]; ok {
		g.mu.Unlock()
		<-f.done
		return f.res, f.err
	}
	if g.flights == nil {
		g.flights = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	g.flights[user] = f
	g.mu.Unlock()
	f.res, f.err = fn()
	g.mu.Lock()
	delete(g.flights, user)
	g.mu.Unlock()
	close(f.done)
	return f.res, f.err
}

// UserGroups implements auth.GroupSource: the berth user groups (of type
// LDAP) whose DN is among the user's directory groups, nested ones
// included, and whether one of them is ldap_group_admin_dn. The answer is
// kept for ldap_group_cache_ttl and looked up again by the first request
// after that, so a user removed from a group loses its role within that
// time. A user no longer in the directory is refused
// (auth.ErrBadCredentials): sessions and tokens of removed users stop
// working too.
func (s *Service) UserGroups(ctx context.Context, id *auth.Identity) ([]int64, bool, error) {
	if !s.Active() {
		return nil, false, nil
	}
	c, err := s.current()
	if err != nil {
		return nil, false, err
	}
	key := c.key()
	res, ok := s.groups.get(id.Name, key)
	if !ok {
		res, err = s.groups.do(id.Name, func() (cachedGroups, error) {
			if res, ok := s.groups.get(id.Name, key); ok { // done by the flight just ended
				return res, nil
			}
			res, err := s.lookupGroups(ctx, c, id.Name)
			if err != nil {
				return res, err
			}
			res.key, res.expires = key, time.Now().Add(c.GroupCacheTTL)
			if c.GroupCacheTTL > 0 {
				s.groups.put(id.Name, res)
			}
			return res, nil
		})
		if err != nil {
			return nil, false, err
		}
	}
	if res.gone { // in ldap_auth every user but the break-glass admin (never asked) is the directory's
		return nil, false, auth.ErrBadCredentials
	}
	return res.groups, res.admin, nil
}

// lookupGroups reads the user's groups from the directory.
func (s *Service) lookupGroups(ctx context.Context, c Config, name string) (cachedGroups, error) {
	u, err := s.findUser(ctx, c, name)
	if err != nil {
		return cachedGroups{}, err
	}
	if u == nil {
		return cachedGroups{gone: true}, nil
	}
	dns, err := s.groupDNs(ctx, c, u)
	if err != nil {
		return cachedGroups{}, err
	}
	var res cachedGroups
	if c.GroupAdminDN != "" {
		for _, dn := range dns {
			if sameDN(dn, c.GroupAdminDN) {
				res.admin = true
			}
		}
	}
	keys := make([]string, len(dns))
	for i, dn := range dns {
		keys[i] = normalizeDN(dn)
	}
	groups, err := s.opt.Store.FindUserGroups(ctx, meta.LDAPGroup, keys)
	if err != nil {
		return cachedGroups{}, err
	}
	for _, g := range groups {
		res.groups = append(res.groups, g.ID)
	}
	return res, nil
}

// groupDNs is every group u is in, through nesting: in one search on
// Active Directory (LDAP_MATCHING_RULE_IN_CHAIN), else by a bounded,
// cycle-safe expansion over the memberOf attribute (when the user's entry
// has it) or over the groups' member attribute.
func (s *Service) groupDNs(ctx context.Context, c Config, u *User) ([]string, error) {
	ad, err := s.activeDirectory(ctx, c)
	if err != nil {
		return nil, err
	}
	if ad && c.GroupBaseDN != "" {
		var out []string
		err := s.with(ctx, c, func(cn *goldap.Conn) error {
			f := inChainFilter(c, u.DN)
			res, err := cn.Search(goldap.NewSearchRequest(c.GroupBaseDN, scope(c.GroupScope), goldap.NeverDerefAliases, MaxGroups,
				int(c.Timeout.Seconds()), false, f, []string{"dn"}, nil))
			if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
				return err
			}
			out = out[:0]
			for _, e := range res.Entries {
				out = append(out, e.DN)
			}
			return nil
		})
		return out, err
	}
	if len(u.MemberOf) > 0 || c.GroupBaseDN == "" {
		return s.expand(ctx, u.MemberOf, func(cn *goldap.Conn, dn string) ([]string, error) {
			if c.GroupMembershipAttr == "" {
				return nil, nil
			}
			res, err := cn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1,
				int(c.Timeout.Seconds()), false, "(objectClass=*)", []string{c.GroupMembershipAttr}, nil))
			if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
				return nil, nil
			}
			if err != nil || len(res.Entries) == 0 {
				return nil, err
			}
			return res.Entries[0].GetEqualFoldAttributeValues(c.GroupMembershipAttr), nil
		}, c)
	}
	parents := func(cn *goldap.Conn, dn string) ([]string, error) {
		e := goldap.EscapeFilter(dn)
		f := groupFilter(c, "(|(member="+e+")(uniqueMember="+e+"))")
		res, err := cn.Search(goldap.NewSearchRequest(c.GroupBaseDN, scope(c.GroupScope), goldap.NeverDerefAliases, MaxGroups,
			int(c.Timeout.Seconds()), false, f, []string{"dn"}, nil))
		if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			return nil, err
		}
		var out []string
		for _, e := range res.Entries {
			out = append(out, e.DN)
		}
		return out, nil
	}
	var direct []string
	err = s.with(ctx, c, func(cn *goldap.Conn) error {
		var err error
		direct, err = parents(cn, u.DN)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.expand(ctx, direct, parents, c)
}

// expand follows parents from the direct groups, breadth first, at most
// MaxDepth levels and MaxGroups groups, each group once (cycles end).
func (s *Service) expand(ctx context.Context, direct []string, parents func(*goldap.Conn, string) ([]string, error), c Config) ([]string, error) {
	seen := map[string]bool{}
	var out, level []string
	for _, dn := range direct {
		if k := normalizeDN(dn); !seen[k] && len(out) < MaxGroups {
			seen[k] = true
			out, level = append(out, dn), append(level, dn)
		}
	}
	err := s.with(ctx, c, func(cn *goldap.Conn) error {
		for depth := 1; depth < MaxDepth && len(level) > 0; depth++ {
			var next []string
			for _, dn := range level {
				if err := ctx.Err(); err != nil {
					return err
				}
				ps, err := parents(cn, dn)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if k := normalizeDN(p); !seen[k] && len(out) < MaxGroups {
						seen[k] = true
						out, next = append(out, p), append(next, p)
					}
				}
			}
			level = next
		}
		return nil
	})
	return out, err
}

// inChainFilter matches, on Active Directory, every group userDN is in
// through any depth of nesting.
func inChainFilter(c Config, userDN string) string {
	return groupFilter(c, "(member:"+inChainRule+":="+goldap.EscapeFilter(userDN)+")")
}

// groupFilter is f with ldap_group_search_filter.
func groupFilter(c Config, f string) string {
	if extra := strings.TrimSpace(c.GroupFilter); extra != "" {
		if !strings.HasPrefix(extra, "(") {
			extra = "(" + extra + ")"
		}
		return "(&" + extra + f + ")"
	}
	return f
}

// activeDirectory reports whether the server is Active Directory (its
// root DSE's supportedCapabilities), asked once per configuration.
func (s *Service) activeDirectory(ctx context.Context, c Config) (bool, error) {
	key := c.key()
	s.mu.Lock()
	if s.adKey == key {
		defer s.mu.Unlock()
		return s.isAD, nil
	}
	s.mu.Unlock()
	var ad bool
	err := s.with(ctx, c, func(cn *goldap.Conn) error {
		res, err := cn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1,
			int(c.Timeout.Seconds()), false, "(objectClass=*)", []string{"supportedCapabilities"}, nil))
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			for _, v := range e.GetEqualFoldAttributeValues("supportedCapabilities") {
				ad = ad || v == adCapability
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.adKey, s.isAD = key, ad
	s.mu.Unlock()
	return ad, nil
}

// CanonicalDN is dn with no spaces around separators (parsed and joined
// again), its case kept; an unparsable DN is only trimmed. User groups
// keep LDAP DNs in this form.
func CanonicalDN(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.TrimSpace(dn)
	}
	parts := make([]string, 0, len(parsed.RDNs))
	for _, rdn := range parsed.RDNs {
		attrs := make([]string, 0, len(rdn.Attributes))
		for _, a := range rdn.Attributes {
			attrs = append(attrs, a.Type+"="+a.Value)
		}
		parts = append(parts, strings.Join(attrs, "+"))
	}
	return strings.Join(parts, ",")
}

// normalizeDN is CanonicalDN in lower case: DNs written differently
// compare equal (the store matches user groups' DNs ignoring case).
func normalizeDN(dn string) string { return strings.ToLower(CanonicalDN(dn)) }

func sameDN(a, b string) bool { return normalizeDN(a) == normalizeDN(b) }
