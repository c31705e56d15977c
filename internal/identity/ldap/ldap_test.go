package ldap_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/test/ldapserver"
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	dir    *ldapserver.Server
	store  *sqlstore.Store
	st     *settings.Settings
	svc    *ldap.Service
	groups map[string]int64 // user group ids by directory group name
}

func setup(t *testing.T) *fixture {
	t.Helper()
	dir := ldapserver.Start(t)
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	st := settings.New(store, nil)
	sealer, err := settings.NewSealer([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	st.SetSealer(sealer)
	f := &fixture{t: t, ctx: ctx, dir: dir, store: store, st: st, groups: map[string]int64{},
		svc: ldap.New(ldap.Options{Settings: st, Store: store, RootCAs: dir.CAPool})}
	f.set(map[string]any{"auth_mode": "ldap_auth", "ldap_url": dir.URL, "ldap_search_dn": ldapserver.AdminDN,
		"ldap_search_password": ldapserver.AdminPassword, "ldap_base_dn": ldapserver.PeopleDN, "ldap_uid": "uid",
		"ldap_filter": "(objectClass=inetOrgPerson)", "ldap_group_base_dn": ldapserver.GroupsDN,
		"ldap_group_admin_dn": ldapserver.GroupDN("admins"), "ldap_group_cache_ttl": 1, "ldap_timeout": 2})
	for _, g := range []string{"devs", "platform", "admins", "loop-a", "loop-b"} {
		ug := &meta.UserGroup{Name: g, Type: meta.LDAPGroup, LDAPDN: ldapserver.GroupDN(g)}
		if err := store.CreateUserGroup(ctx, ug); err != nil {
			t.Fatal(err)
		}
		f.groups[g] = ug.ID
	}
	return f
}

func (f *fixture) set(kv map[string]any) {
	f.t.Helper()
	changes := map[string]json.RawMessage{}
	for k, v := range kv {
		b, _ := json.Marshal(v)
		changes[k] = b
	}
	if _, err := f.st.Update(f.ctx, changes); err != nil {
		f.t.Fatal(err)
	}
}

// groupsOf signs user in and returns the names of its groups.
func (f *fixture) groupsOf(user string) ([]string, bool, error) {
	f.t.Helper()
	ids, admin, err := f.svc.UserGroups(f.ctx, &auth.Identity{Kind: auth.UserKind, Name: user, External: true})
	var names []string
	for name, id := range f.groups {
		if slices.Contains(ids, id) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, admin, err
}

func TestVerifyAndOnboard(t *testing.T) {
	f := setup(t)
	if !f.svc.Active() {
		t.Fatal("not active")
	}
	u, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice"))
	if err != nil || u.ID == 0 || u.Email != "alice@example.org" || u.Realname != "Alice Example" || u.PasswordHash != "" {
		t.Fatalf("verify: %+v %v", u, err)
	}
	again, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice"))
	if err != nil || again.ID != u.ID {
		t.Fatalf("second sign-in: %+v %v", again, err)
	}
	for _, tc := range [][2]string{{"alice", "wrong"}, {"alice", ""}, {"nobody", "x"}, {"*", ldapserver.Password("alice")},
		{"alice)(uid=*", "x"}} {
		if _, err := f.svc.Verify(f.ctx, tc[0], tc[1]); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("Verify(%q, %q): %v", tc[0], tc[1], err)
		}
	}
	// The configuration is sealed in the settings: the search password works only through it.
	f.set(map[string]any{"ldap_search_password": "wrong"})
	if _, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice")); !errors.Is(err, auth.ErrDirectoryUnavailable) {
		t.Fatalf("with a bad search password: %v", err)
	}
}

func TestNestedGroups(t *testing.T) {
	f := setup(t)
	for _, schema := range []string{"memberof", "member"} {
		t.Run(schema, func(t *testing.T) {
			if schema == "member" { // no memberOf attribute: groups found by their member values
				f.set(map[string]any{"ldap_group_membership_attribute": "description"})
			}
			for user, want := range map[string][]string{
				"alice": nil,
				"bob":   {"devs"},
				"carol": {"devs", "platform"}, // devs through platform
				"frank": {"loop-a", "loop-b"}, // a cycle ends
				"erin":  {"admins"},
			} {
				got, admin, err := f.groupsOf(user)
				if err != nil || !slices.Equal(got, want) || admin != (user == "erin") {
					t.Errorf("%s: %v admin=%v %v, want %v", user, got, admin, err, want)
				}
			}
		})
	}
}

// TestNestingDepthLimit: a chain of groups deeper than MaxDepth is
// followed MaxDepth levels (the user's own group counting as the first),
// in both schemas, and no further.
func TestNestingDepthLimit(t *testing.T) {
	f := setup(t)
	c, err := f.dir.Conn()
	if err != nil {
		t.Fatal(err)
	}
	err = f.dir.AddUser(c, "gus")
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	const chain = ldap.MaxDepth + 3
	var want []string
	for i := range chain {
		name := fmt.Sprintf("chain-%02d", i)
		member := ldapserver.UserDN("gus")
		if i > 0 {
			member = ldapserver.GroupDN(fmt.Sprintf("chain-%02d", i-1))
		}
		if err := f.dir.AddGroup(name, member); err != nil {
			t.Fatal(err)
		}
		ug := &meta.UserGroup{Name: name, Type: meta.LDAPGroup, LDAPDN: ldapserver.GroupDN(name)}
		if err := f.store.CreateUserGroup(f.ctx, ug); err != nil {
			t.Fatal(err)
		}
		f.groups[name] = ug.ID
		if i < ldap.MaxDepth {
			want = append(want, name)
		}
	}
	for _, schema := range []string{"memberof", "member"} {
		t.Run(schema, func(t *testing.T) {
			if schema == "member" {
				f.set(map[string]any{"ldap_group_membership_attribute": "description"})
			}
			got, _, err := f.groupsOf("gus")
			t.Logf("%s: a chain of %d nested groups, %d followed (MaxDepth %d)", schema, chain, len(got), ldap.MaxDepth)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("gus: %v %v, want %v", got, err, want)
			}
		})
	}
}

func TestGroupChangesApplyAfterCacheTime(t *testing.T) {
	f := setup(t)
	if got, _, err := f.groupsOf("dave"); err != nil || !slices.Equal(got, []string{"devs"}) {
		t.Fatalf("dave: %v %v", got, err)
	}
	if err := f.dir.RemoveMember(ldapserver.GroupDN("devs"), ldapserver.UserDN("dave")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := f.groupsOf("dave"); !slices.Equal(got, []string{"devs"}) {
		t.Fatalf("within the cache time: %v", got)
	}
	time.Sleep(1100 * time.Millisecond)
	if got, _, err := f.groupsOf("dave"); err != nil || len(got) != 0 {
		t.Fatalf("after the cache time: %v %v", got, err)
	}
	// A user deleted from the directory is refused after the cache time.
	if _, _, err := f.groupsOf("bob"); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, _, err := f.groupsOf("bob"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("deleted user: %v", err)
	}
}

func TestLDAPS(t *testing.T) {
	f := setup(t)
	f.set(map[string]any{"ldap_url": f.dir.LDAPSURL})
	if _, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice")); err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	// Without the CA the certificate is refused, unless ldap_verify_cert is false.
	untrusting := ldap.New(ldap.Options{Settings: f.st, Store: f.store})
	if _, err := untrusting.Verify(f.ctx, "alice", ldapserver.Password("alice")); !errors.Is(err, auth.ErrDirectoryUnavailable) {
		t.Fatalf("unknown CA: %v", err)
	}
	c, _ := untrusting.Current()
	if err := untrusting.Ping(f.ctx, c); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ping with an unknown CA: %v", err)
	}
	f.set(map[string]any{"ldap_verify_cert": false})
	if _, err := untrusting.Verify(f.ctx, "alice", ldapserver.Password("alice")); err != nil {
		t.Fatalf("ldap_verify_cert=false: %v", err)
	}
	// StartTLS on the ldap:// listener, verified.
	f.set(map[string]any{"ldap_url": f.dir.URL, "ldap_start_tls": true, "ldap_verify_cert": true})
	if _, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice")); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if _, err := untrusting.Verify(f.ctx, "alice", ldapserver.Password("alice")); !errors.Is(err, auth.ErrDirectoryUnavailable) ||
		!strings.Contains(err.Error(), "StartTLS") {
		t.Fatalf("StartTLS with an unknown CA: %v", err)
	}
}

func TestDirectoryDown(t *testing.T) {
	f := setup(t)
	if _, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice")); err != nil {
		t.Fatal(err)
	}
	f.dir.Stop()
	for i := range 3 {
		start := time.Now()
		_, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice"))
		if !errors.Is(err, auth.ErrDirectoryUnavailable) {
			t.Fatalf("directory down: %v", err)
		}
		// Bounded by ldap_timeout (2s); once known down, at once.
		d := time.Since(start)
		t.Logf("directory down, attempt %d: %v after %s", i, err, d.Round(time.Millisecond))
		if d > 3*time.Second || i > 0 && d > 100*time.Millisecond {
			t.Fatalf("attempt %d took %s", i, d)
		}
	}
}

// TestPooledConnectionsAfterRestart: connections kept in the pool break
// when the directory restarts; the next sign-ins notice it and use new
// connections instead of failing.
func TestPooledConnectionsAfterRestart(t *testing.T) {
	f := setup(t)
	var wg sync.WaitGroup
	for range 4 { // several connections in the pool
		wg.Go(func() {
			if _, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := f.dir.Restart(); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		start := time.Now()
		if _, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice")); err != nil {
			t.Fatalf("sign-in %d after the restart: %v", i, err)
		}
		t.Logf("sign-in %d after the restart: %s", i, time.Since(start).Round(time.Millisecond))
	}
	// Groups too (their searches use the pool).
	f.set(map[string]any{"ldap_group_cache_ttl": 0})
	if got, _, err := f.groupsOf("carol"); err != nil || !slices.Equal(got, []string{"devs", "platform"}) {
		t.Fatalf("carol's groups after the restart: %v %v", got, err)
	}
}

func TestSearchAndImport(t *testing.T) {
	f := setup(t)
	users, err := f.svc.SearchUsers(f.ctx, "ar")
	if err != nil || len(users) != 1 || users[0].Username != "carol" || users[0].Email != "carol@example.org" {
		t.Fatalf("search: %+v %v", users, err)
	}
	// The memberof overlay is at work (TestNestedGroups/memberof follows it).
	if !slices.Equal(users[0].MemberOf, []string{ldapserver.GroupDN("platform")}) {
		t.Fatalf("memberOf: %v", users[0].MemberOf)
	}
	if all, err := f.svc.SearchUsers(f.ctx, ""); err != nil || len(all) != len(ldapserver.Users) {
		t.Fatalf("all: %d %v", len(all), err)
	}
	imported, failed, err := f.svc.ImportUsers(f.ctx, []string{"bob", "nobody"})
	if err != nil || !slices.Equal(imported, []string{"bob"}) || len(failed) != 1 || failed[0].UID != "nobody" {
		t.Fatalf("import: %v %+v %v", imported, failed, err)
	}
	if _, failed, _ := f.svc.ImportUsers(f.ctx, []string{"bob"}); len(failed) != 1 || !strings.Contains(failed[0].Reason, "exists") {
		t.Fatalf("second import: %+v", failed)
	}
	if u, err := f.store.GetUserByName(f.ctx, "bob"); err != nil || u.Email != "bob@example.org" {
		t.Fatalf("imported user: %+v %v", u, err)
	}
	groups, err := f.svc.SearchGroups(f.ctx, "loop", "")
	if err != nil || len(groups) != 2 || groups[0].Name != "loop-a" {
		t.Fatalf("group search: %+v %v", groups, err)
	}
	g, err := f.svc.GroupByDN(f.ctx, "CN=devs, ou=groups,dc=example,dc=org")
	if err != nil || g == nil || g.Name != "devs" {
		t.Fatalf("group by DN: %+v %v", g, err)
	}
	if g, err := f.svc.GroupByDN(f.ctx, ldapserver.GroupDN("nope")); err != nil || g != nil {
		t.Fatalf("missing group: %+v %v", g, err)
	}
	c, _ := f.svc.Current()
	if err := f.svc.Ping(f.ctx, c); err != nil {
		t.Fatalf("ping: %v", err)
	}
	c.SearchPassword = "wrong"
	if err := f.svc.Ping(f.ctx, c); err == nil {
		t.Fatal("ping with a wrong password succeeded")
	}
}

func TestCanonicalDN(t *testing.T) {
	if got := ldap.CanonicalDN(" CN=Devs , ou=groups,dc=example,dc=org"); got != "CN=Devs,ou=groups,dc=example,dc=org" {
		t.Fatal(got)
	}
}

// TestDirectoryHangs: a directory that accepts connections and never
// answers costs each sign-in at most about ldap_timeout, many at once
// included, and leaves no goroutines behind.
func TestDirectoryHangs(t *testing.T) {
	f := setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	f.set(map[string]any{"ldap_url": "ldap://" + l.Addr().String(), "ldap_timeout": 1})
	before := runtime.NumGoroutine()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			_, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice"))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, auth.ErrDirectoryUnavailable) {
			t.Fatalf("hanging directory: %v", err)
		}
	}
	d := time.Since(start)
	if d > 4*time.Second {
		t.Fatalf("40 sign-ins against a hanging directory took %s", d)
	}
	// The connections were closed: their reader goroutines end.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	n := runtime.NumGoroutine()
	t.Logf("40 concurrent sign-ins against a hanging directory (ldap_timeout 1s): all ErrDirectoryUnavailable in %s; goroutines %d before, %d after",
		d.Round(time.Millisecond), before, n)
	if n > before+2 {
		t.Fatalf("goroutines: %d before, %d after", before, n)
	}
}

// TestLDAPAuthWithoutURL: under ldap_auth the directory is in force even
// before ldap_url is set, so local passwords (but the break-glass
// administrator's, decided by auth.Authenticator) no longer sign in:
// sign-ins fail as unavailable instead of falling back to the local table.
func TestLDAPAuthWithoutURL(t *testing.T) {
	f := setup(t)
	f.set(map[string]any{"ldap_url": ""})
	if !f.svc.Active() {
		t.Fatal("ldap_auth without ldap_url is not active: local passwords would sign in")
	}
	if _, err := f.svc.Verify(f.ctx, "alice", ldapserver.Password("alice")); !errors.Is(err, auth.ErrDirectoryUnavailable) {
		t.Fatalf("sign-in without ldap_url: %v, want ErrDirectoryUnavailable", err)
	}
	if _, _, err := f.groupsOf("alice"); !errors.Is(err, auth.ErrDirectoryUnavailable) {
		t.Fatalf("groups without ldap_url: %v, want ErrDirectoryUnavailable", err)
	}
	f.set(map[string]any{"auth_mode": "db_auth"})
	if f.svc.Active() {
		t.Fatal("active under db_auth")
	}
}
