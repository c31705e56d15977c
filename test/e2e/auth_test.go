package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/test/berthproc"
)

// mode says whether the registry under test enforces access control.
type mode struct{ auth bool }

func (m mode) String() string {
	if m.auth {
		return "on"
	}
	return "off"
}

// bothModes runs a client's scenarios twice, as sub-tests "auth-off" (an
// open registry) and "auth-on" (the client logs in as a developer of the
// private project "team" and works there). No '=' in the names: they end
// up in temp paths, which regctl's ocidir:// cannot parse then.
func bothModes(t *testing.T, scenarios func(t *testing.T, m mode)) {
	for _, m := range []mode{{auth: false}, {auth: true}} {
		t.Run("auth-"+m.String(), func(t *testing.T) { scenarios(t, m) })
	}
}

// account is a login the seeded registry knows.
type account struct{ user, pass string }

// The accounts of a registry with access control. "team" is a private
// project; robots are project robots of "team".
var (
	admin        = account{"admin", "admin-password-e2e"}
	developer    = account{"dev", "dev-password-e2e"}     // developer (2) of team
	maintainer   = account{"maint", "maint-password-e2e"} // maintainer (4) of team: may delete
	guest        = account{"guest", "guest-password-e2e"} // guest (3) of team: pull only
	disabledUser = account{"gone", "gone-password-e2e"}   // developer of team, disabled
	readerRobot  = account{"robot$team+reader", "reader-secret-e2e"}
	pusherRobot  = account{"robot$team+pusher", "pusher-secret-e2e"}
)

// reg is a berth under test and how the scenarios use it.
type reg struct {
	*berthproc.Server
	mode
	project string // where the scenarios push: "e2e" when open, "team" with access control
}

// repo is a repository name in the scenarios' project ("team/crane/hello").
func (r *reg) repo(path string) string { return r.project + "/" + path }

// ref is a reference to that repository on this registry ("127.0.0.1:N/team/crane/hello").
func (r *reg) ref(path string) string { return r.Addr + "/" + r.repo(path) }

// do sends req to berth, as the administrator when access control is on
// (the tests' own look at the registry state).
func (r *reg) do(req *http.Request) (*http.Response, error) {
	if r.auth {
		req.SetBasicAuth(admin.user, admin.pass)
	}
	return berthproc.Client.Do(req)
}

// registry is a fresh berth for one client in mode m; with access control
// its data directory is seeded with the accounts above before it starts.
func registry(t *testing.T, m mode) *reg {
	t.Helper()
	dir := t.TempDir()
	r := &reg{mode: m, project: "e2e"}
	if m.auth {
		seedAccess(t, dir)
		r.project = "team"
		r.Server = berthproc.StartEnv(t, dir, []string{"BERTH_ADMIN_PASSWORD=" + admin.pass}, "--auth=true")
	} else {
		r.Server = berthproc.Start(t, dir)
	}
	t.Cleanup(func() {
		for _, e := range requests(r) {
			if e.Status >= 500 {
				t.Errorf("berth answered %s %s with %d", e.Method, e.Path, e.Status)
			}
			if e.Status >= 400 && os.Getenv("E2E_DEBUG_4XX") != "" {
				t.Logf("4xx: %s %s %d", e.Method, e.Path, e.Status)
			}
		}
	})
	return r
}

var (
	hashOnce sync.Once
	hashes   map[string]string // user → bcrypt hash of its password
)

// seedAccess creates, in the database of a data directory berth has not
// used yet, the project "team" and its members and robots. berth adds the
// administrator and the public project "library" when it starts.
func seedAccess(t *testing.T, dir string) {
	t.Helper()
	hashOnce.Do(func() {
		auth.BcryptCost = 4 // seeds only; berth checks any cost
		hashes = map[string]string{}
		for _, a := range []account{developer, maintainer, guest, disabledUser, readerRobot, pusherRobot} {
			h, err := auth.HashPassword(a.pass)
			if err != nil {
				panic(err)
			}
			hashes[a.user] = h
		}
	})
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	team := &meta.Project{Name: "team"} // private, no owner: members only
	must(st.CreateProject(ctx, team))
	for _, m := range []struct {
		a    account
		role rbac.Role
	}{{developer, rbac.RoleDeveloper}, {maintainer, rbac.RoleMaintainer}, {guest, rbac.RoleGuest}, {disabledUser, rbac.RoleDeveloper}} {
		u := &meta.User{Username: m.a.user, PasswordHash: hashes[m.a.user], Disabled: m.a == disabledUser}
		must(st.CreateUser(ctx, u))
		must(st.SetMember(ctx, team.ID, u.ID, int(m.role)))
	}
	for _, rb := range []struct {
		a       account
		actions []string
	}{{readerRobot, []string{"pull"}}, {pusherRobot, []string{"pull", "push"}}} {
		must(st.CreateRobot(ctx, &meta.Robot{Name: rb.a.user, Level: "project", ProjectID: team.ID, SecretHash: hashes[rb.a.user],
			Permissions: []meta.RobotPermission{{Project: "team", Actions: rb.actions}}}))
	}
}

// use binds c to r: its report rows carry r's mode and, with access
// control, it logs in as the developer.
func (r *reg) use(c *client) {
	c.t.Helper()
	c.auth = r.mode.String()
	r.as(c, developer)
}

// as logs c in to r as a, with c's own mechanism (a no-op without access
// control). Clients that take credentials per command (skopeo, ctr) keep
// them in c.creds; notation, which refuses to store a password without a
// credentials helper, reads NOTATION_USERNAME and NOTATION_PASSWORD.
func (r *reg) as(c *client, a account) {
	c.t.Helper()
	if !r.auth {
		return
	}
	c.creds = a.user + ":" + a.pass
	if out, err := r.login(c, a); err != nil {
		c.t.Fatalf("%s login as %s: %v\n%s", c.name, a.user, err, out)
	}
}

// login runs c's login command for a.
func (r *reg) login(c *client, a account) (string, error) {
	c.t.Helper()
	args := map[string][]string{
		"docker":  {"login", "-u", a.user, "--password-stdin", r.Addr},
		"podman":  append(c.storageArgs(), "login", "--tls-verify=false", "-u", a.user, "--password-stdin", r.Addr),
		"buildah": append(c.storageArgs(), "login", "--tls-verify=false", "-u", a.user, "--password-stdin", r.Addr),
		"crane":   {"auth", "login", "--insecure", r.Addr, "-u", a.user, "--password-stdin"},
		"oras":    {"login", "--plain-http", "-u", a.user, "--password-stdin", r.Addr},
		"regctl":  {"registry", "login", "-u", a.user, "--pass-stdin", r.Addr},
		"helm":    {"registry", "login", "--plain-http", "-u", a.user, "--password-stdin", r.Addr},
		"cosign":  {"login", "-u", a.user, "--password-stdin", r.Addr},
	}[c.name]
	if c.name == "notation" {
		c.env = append(c.env, "NOTATION_USERNAME="+a.user, "NOTATION_PASSWORD="+a.pass) // the last value wins
	}
	if args == nil { // skopeo, ctr, notation: credentials on each command
		return "", nil
	}
	c.stdin = strings.NewReader(a.pass)
	defer func() { c.stdin = nil }()
	return c.runErr(cmdTimeout, nil, args...)
}

// credArgs are c's per-command credentials flag (e.g. "--creds"), or none
// without access control.
func (c *client) credArgs(flag string) []string {
	if c.creds == "" {
		return nil
	}
	return []string{flag, c.creds}
}

// tags lists a repository's tags as the administrator (none when it does not exist).
func (r *reg) tags(t *testing.T, repo string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", r.URL+"/v2/"+repo+"/tags/list", nil)
	res, err := r.do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return nil
	}
	var list struct{ Tags []string }
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("tags of %s: %d %v", repo, res.StatusCode, err)
	}
	return list.Tags
}

// deniedPush runs push of tag to the scenarios' repository path, which must
// fail because the caller may not push, and checks berth did not store the tag.
func (r *reg) deniedPush(c *client, path, tag string, push func() (string, error)) {
	c.t.Helper()
	out, err := push()
	if err == nil {
		c.t.Fatalf("push to %s:%s succeeded, want it denied:\n%s", path, tag, out)
	}
	mustBeDenied(c.t, out)
	if tags := r.tags(c.t, r.repo(path)); slices.Contains(tags, tag) {
		c.t.Fatalf("a denied push stored the tag %s in %s (tags %v)", tag, r.repo(path), tags)
	}
}

// mustBeDenied fails unless a client's output says it was denied or unauthorized.
func mustBeDenied(t *testing.T, out string) {
	t.Helper()
	if low := strings.ToLower(out); !strings.Contains(low, "denied") && !strings.Contains(low, "unauthorized") {
		t.Fatalf("the client failed without saying it was denied or unauthorized:\n%s", clip([]byte(out)))
	}
}

// immutableRule adds, as the administrator through the management API, a
// tag immutability rule to the scenarios' project: tags matching tags in
// repositories matching repos (paths in the project).
func (r *reg) immutableRule(t *testing.T, tags, repos string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"tag_selectors":   []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": tags}},
		"scope_selectors": map[string]any{"repository": []map[string]string{{"kind": "doublestar", "decoration": "repoMatches", "pattern": repos}}},
	})
	req, err := http.NewRequest("POST", r.URL+"/api/v2.0/projects/"+r.project+"/immutabletagrules", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating an immutable rule: %s", resp.Status)
	}
}
