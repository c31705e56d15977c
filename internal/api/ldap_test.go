package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/test/ldapserver"
)

// newLDAPEnv is newSystemEnv with a slapd and the directory wired as app
// wires it, in auth_mode ldap_auth.
func newLDAPEnv(t *testing.T) (*env, *ldapserver.Server) {
	t.Helper()
	dir := ldapserver.Start(t)
	e := newSystemEnv(t)
	st := e.api.opt.System.Settings
	sealer, err := settings.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	st.SetSealer(sealer)
	svc := ldap.New(ldap.Options{Settings: st, Store: e.store, RootCAs: dir.CAPool})
	router := &identity.Router{Settings: st, Directories: map[string]auth.Directory{settings.LDAPAuth: svc}}
	e.authn.Directory, e.authn.Groups = router, router
	e.api.opt.LDAP = svc
	return e, dir
}

func (e *env) configureLDAP(dir *ldapserver.Server) {
	e.t.Helper()
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"auth_mode": "ldap_auth", "ldap_url": dir.LDAPSURL,
		"ldap_search_dn": ldapserver.AdminDN, "ldap_search_password": ldapserver.AdminPassword, "ldap_base_dn": ldapserver.PeopleDN,
		"ldap_uid": "uid", "ldap_group_base_dn": ldapserver.GroupsDN, "ldap_group_cache_ttl": 1})
}

func TestLDAPOperations(t *testing.T) {
	e, dir := newLDAPEnv(t)
	// Before a directory is configured.
	e.expect(400, e.admin, "GET", Prefix+"/ldap/users/search?username=a", nil)
	ping := decode[map[string]any](t, e.expect(200, e.admin, "POST", Prefix+"/ldap/ping", nil))
	if ping["success"] != false {
		t.Fatalf("ping without a directory: %v", ping)
	}
	e.configureLDAP(dir)
	alice := cred{"alice", ldapserver.Password("alice")}

	ping = decode[map[string]any](t, e.expect(200, e.admin, "POST", Prefix+"/ldap/ping", nil))
	if ping["success"] != true {
		t.Fatalf("ping: %v", ping)
	}
	ping = decode[map[string]any](t, e.expect(200, e.admin, "POST", Prefix+"/ldap/ping", map[string]any{"ldap_url": dir.URL,
		"ldap_search_password": "wrong"}))
	if ping["success"] != false || !strings.Contains(ping["message"].(string), "refused") {
		t.Fatalf("ping with a wrong password: %v", ping)
	}
	e.expect(400, e.admin, "POST", Prefix+"/ldap/ping", map[string]any{"ldap_connection_timeout": 0})
	// Another server does not get the stored password (the same server by another URL stands for one here).
	ping = decode[map[string]any](t, e.expect(200, e.admin, "POST", Prefix+"/ldap/ping", map[string]any{"ldap_url": dir.URL}))
	if ping["success"] != false {
		t.Fatalf("the stored password went to another URL: %v", ping)
	}
	ping = decode[map[string]any](t, e.expect(200, e.admin, "POST", Prefix+"/ldap/ping", map[string]any{"ldap_url": dir.URL,
		"ldap_search_password": ldapserver.AdminPassword}))
	if ping["success"] != true {
		t.Fatalf("ping of another URL with its password: %v", ping)
	}
	e.expect(403, alice, "POST", Prefix+"/ldap/ping", nil)
	e.expect(401, cred{}, "POST", Prefix+"/ldap/ping", nil)

	users := decode[[]ldapUser](t, e.expect(200, e.admin, "GET", Prefix+"/ldap/users/search?username=rol", nil))
	if len(users) != 1 || users[0] != (ldapUser{"carol", "Carol Example", "carol@example.org"}) {
		t.Fatalf("user search: %+v", users)
	}
	e.expect(403, alice, "GET", Prefix+"/ldap/users/search", nil)

	failed := decode[[]ldapFailedImport](t, e.expect(404, e.admin, "POST", Prefix+"/ldap/users/import",
		map[string]any{"ldap_uid_list": []string{"bob", "nobody"}}))
	if len(failed) != 1 || failed[0].UID != "nobody" {
		t.Fatalf("import: %+v", failed)
	}
	if u, err := e.store.GetUserByName(e.ctx, "bob"); err != nil || u.Email != "bob@example.org" {
		t.Fatalf("imported: %+v %v", u, err)
	}
	e.expect(200, e.admin, "POST", Prefix+"/ldap/users/import", map[string]any{"ldap_uid_list": []string{"dave"}})
	e.expect(400, e.admin, "POST", Prefix+"/ldap/users/import", map[string]any{"ldap_uid_list": []string{}})
	e.expect(400, e.admin, "POST", Prefix+"/ldap/users/import", "x")

	groups := decode[[]userGroup](t, e.expect(200, e.admin, "GET", Prefix+"/ldap/groups/search?groupname=plat", nil))
	if len(groups) != 1 || groups[0].GroupName != "platform" || groups[0].GroupType != 1 || groups[0].LDAPGroupDN != ldapserver.GroupDN("platform") {
		t.Fatalf("group search: %+v", groups)
	}
	if g := decode[[]userGroup](t, e.expect(200, e.admin, "GET", Prefix+"/ldap/groups/search?groupdn="+url.QueryEscape(ldapserver.GroupDN("devs")), nil)); len(g) != 1 {
		t.Fatalf("by DN: %+v", g)
	}
	e.expect(400, e.admin, "GET", Prefix+"/ldap/groups/search", nil)
	// A malformed DN is the request's fault.
	e.expect(400, e.admin, "GET", Prefix+"/ldap/groups/search?groupdn=notadn", nil)

	// LDAP user groups are checked against the directory and named after it.
	e.expect(400, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_type": 1, "ldap_group_dn": ldapserver.GroupDN("nope")})
	e.expect(201, e.admin, "POST", Prefix+"/usergroups", map[string]any{"group_type": 1, "ldap_group_dn": "cn=devs, " + ldapserver.GroupsDN})
	got := decode[[]userGroup](t, e.expect(200, e.admin, "GET", Prefix+"/usergroups", nil))
	if len(got) != 1 || got[0].GroupName != "devs" || got[0].LDAPGroupDN != ldapserver.GroupDN("devs") {
		t.Fatalf("LDAP group: %+v", got)
	}
	e.project("team", false, nil)
	e.expect(400, e.admin, "POST", Prefix+"/projects/team/members", map[string]any{"role_id": 2,
		"member_group": map[string]any{"group_type": 1, "ldap_group_dn": ldapserver.GroupDN("nope")}})
	e.expect(201, e.admin, "POST", Prefix+"/projects/team/members", map[string]any{"role_id": 2,
		"member_group": map[string]any{"group_type": 1, "ldap_group_dn": ldapserver.GroupDN("devs")}})

	// carol (platform, nested in devs) signs in with her directory
	// password: Basic and a session; her group role applies to both.
	carol := cred{"carol", ldapserver.Password("carol")}
	if pr := decode[project](t, e.expect(200, carol, "GET", Prefix+"/projects/team", nil)); pr.CurrentUserRoleID != 2 {
		t.Fatalf("carol's role: %d", pr.CurrentUserRoleID)
	}
	e.expect(401, cred{"carol", "wrong"}, "GET", Prefix+"/projects/team", nil)
	r, _ := http.NewRequest("POST", e.srv.URL+"/c/login", strings.NewReader(url.Values{"principal": {"carol"}, "password": {carol.pass}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := e.send(r)
	var sid *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sid = c
		}
	}
	if resp.StatusCode != 200 || sid == nil {
		t.Fatalf("session login: %d", resp.StatusCode)
	}
	session := func() (*http.Response, string) {
		r, _ := http.NewRequest("GET", e.srv.URL+Prefix+"/projects/team", nil)
		r.AddCookie(sid)
		return e.send(r)
	}
	if resp, _ := session(); resp.StatusCode != 200 {
		t.Fatalf("session: %d", resp.StatusCode)
	}
	// platform out of devs: the session loses the project after the cache time.
	if err := dir.RemoveMember(ldapserver.GroupDN("devs"), ldapserver.GroupDN("platform")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if resp, body := session(); resp.StatusCode != 404 {
		t.Fatalf("session after leaving the group: %d %s", resp.StatusCode, body)
	}
	// Gone from the directory: the session ends after the cache time.
	r, _ = http.NewRequest("POST", e.srv.URL+"/c/login", strings.NewReader(url.Values{"principal": {"dave"}, "password": {ldapserver.Password("dave")}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ = e.send(r)
	var daveSid *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			daveSid = c
		}
	}
	current := func() int {
		r, _ := http.NewRequest("GET", e.srv.URL+Prefix+"/users/current", nil)
		r.AddCookie(daveSid)
		resp, _ := e.send(r)
		return resp.StatusCode
	}
	if daveSid == nil || current() != 200 {
		t.Fatalf("dave's session: %d", resp.StatusCode)
	}
	if err := dir.DeleteUser("dave"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if code := current(); code != 401 {
		t.Fatalf("session of a user gone from the directory: %d", code)
	}
	// Directory down: the admin signs in, directory users are told 503.
	dir.Stop()
	e.expect(200, e.admin, "GET", Prefix+"/users/current", nil)
	e.expect(503, carol, "GET", Prefix+"/users/current", nil)
	e.checkNoSecrets(map[string]bool{ldapserver.AdminPassword: true})
}
