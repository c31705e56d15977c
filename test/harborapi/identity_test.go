package harborapi

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/goharbor/go-client/pkg/harbor"
	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/auditlog"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/ldap"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/usergroup"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/ldapserver"
)

func ptrTo[T any](v T) *T { return &v }

// TestUserGroupsClient: Harbor's usergroup operations and group project
// members through the go-client on the shared berth (db_auth: groups of
// any type can be kept; an OIDC group here).
func TestUserGroupsClient(t *testing.T) {
	c := client(t)
	gname := unique("ops")
	created := must(c.Usergroup.CreateUserGroup(ctx(t), usergroup.NewCreateUserGroupParams().
		WithUsergroup(&models.UserGroup{GroupName: gname, GroupType: 3})))(t)
	if !strings.Contains(created.Location, "/api/v2.0/usergroups/") {
		t.Fatalf("Location %q", created.Location)
	}
	if _, err := c.Usergroup.CreateUserGroup(ctx(t), usergroup.NewCreateUserGroupParams().
		WithUsergroup(&models.UserGroup{GroupName: gname, GroupType: 3})); !isStatus(err, 409) {
		t.Fatalf("duplicate group: %v", err)
	}
	list := must(c.Usergroup.ListUserGroups(ctx(t), usergroup.NewListUserGroupsParams().WithGroupName(&gname)))(t)
	if len(list.Payload) != 1 || list.XTotalCount != 1 || list.Payload[0].GroupType != 3 {
		t.Fatalf("list: %s", dump(list.Payload))
	}
	id := list.Payload[0].ID
	got := must(c.Usergroup.GetUserGroup(ctx(t), usergroup.NewGetUserGroupParams().WithGroupID(id)))(t).Payload
	if got.GroupName != gname || got.ID != id {
		t.Fatalf("get: %s", dump(got))
	}
	must(c.Usergroup.UpdateUserGroup(ctx(t), usergroup.NewUpdateUserGroupParams().WithGroupID(id).
		WithUsergroup(&models.UserGroup{GroupName: gname + "-renamed"})))(t)
	found := must(c.Usergroup.SearchUserGroups(ctx(t), usergroup.NewSearchUserGroupsParams().WithGroupname(gname+"-ren")))(t)
	if len(found.Payload) != 1 || found.Payload[0].ID != id || found.Payload[0].GroupName != gname+"-renamed" {
		t.Fatalf("search: %s", dump(found.Payload))
	}

	// The group as a project member.
	proj := unique("grp")
	must(c.Project.CreateProject(ctx(t), project.NewCreateProjectParams().WithProject(&models.ProjectReq{ProjectName: proj})))(t)
	yes := true
	must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID(proj).WithXIsResourceName(&yes).
		WithProjectMember(&models.ProjectMember{RoleID: 2, MemberGroup: &models.UserGroup{ID: id}})))(t)
	members := must(c.Member.ListProjectMembers(ctx(t), member.NewListProjectMembersParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes)))(t).Payload
	var groupMember *models.ProjectMemberEntity
	for _, m := range members {
		if m.EntityType == "g" {
			groupMember = m
		}
	}
	if groupMember == nil || groupMember.EntityID != id || groupMember.RoleID != 2 || groupMember.EntityName != gname+"-renamed" {
		t.Fatalf("members: %s", dump(members))
	}
	m := must(c.Member.GetProjectMember(ctx(t), member.NewGetProjectMemberParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes).WithMid(groupMember.ID)))(t).Payload
	if m.EntityType != "g" || m.RoleName != "developer" {
		t.Fatalf("member: %s", dump(m))
	}
	must(c.Usergroup.DeleteUserGroup(ctx(t), usergroup.NewDeleteUserGroupParams().WithGroupID(id)))(t)
	if _, err := c.Usergroup.GetUserGroup(ctx(t), usergroup.NewGetUserGroupParams().WithGroupID(id)); !isStatus(err, 404) {
		t.Fatalf("deleted group: %v", err)
	}
}

// ldapBerth is a berth of its own in auth_mode ldap_auth against a slapd
// over LDAPS (the test CA given to berth with SSL_CERT_FILE).
type ldapBerth struct {
	*berthproc.Server
	dir *ldapserver.Server
}

func (b *ldapBerth) client(t *testing.T, user, password string) harborClient {
	t.Helper()
	u, err := url.Parse("http://" + b.Addr + v2client.DefaultBasePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := harbor.Config{URL: u, Transport: recorder{loopback}, AuthInfo: httptransport.BasicAuth(user, password)}
	return v2client.New(cfg.ToV2Config())
}

// cacheTTL is the ldap_group_cache_ttl of the LDAP berth.
const cacheTTL = 2 * time.Second

func startLDAPBerth(t *testing.T) *ldapBerth {
	t.Helper()
	dir := ldapserver.Start(t)
	s := berthproc.StartEnv(t, filepath.Join(t.TempDir(), "data"),
		[]string{"BERTH_ADMIN_PASSWORD=" + adminPassword, "SSL_CERT_FILE=" + dir.CAFile}, "--auth=true")
	b := &ldapBerth{Server: s, dir: dir}
	c := b.client(t, "admin", adminPassword)
	must(c.Configure.UpdateConfigurations(ctx(t), configure.NewUpdateConfigurationsParams().WithConfigurations(&models.Configurations{
		AuthMode: ptrTo("ldap_auth"), LdapURL: ptrTo(dir.LDAPSURL), LdapSearchDn: ptrTo(ldapserver.AdminDN),
		LdapSearchPassword: ptrTo(ldapserver.AdminPassword), LdapBaseDn: ptrTo(ldapserver.PeopleDN), LdapUID: ptrTo("uid"),
		LdapFilter: ptrTo("(objectClass=inetOrgPerson)"), LdapScope: ptrTo(int64(2)), LdapTimeout: ptrTo(int64(3)),
		LdapVerifyCert: ptrTo(true), LdapGroupBaseDn: ptrTo(ldapserver.GroupsDN), LdapGroupAttributeName: ptrTo("cn"),
		LdapGroupAdminDn: ptrTo(ldapserver.GroupDN("admins")), LdapGroupMembershipAttribute: ptrTo("memberof"),
		LdapGroupSearchScope: ptrTo(int64(2)),
	})))(t)
	// berth's own key (not in Harbor's model): how long groups are trusted.
	b.put(t, "/api/v2.0/configurations", fmt.Sprintf(`{"ldap_group_cache_ttl": %d}`, int(cacheTTL/time.Second)))
	return b
}

// put sends a JSON PUT as the administrator.
func (b *ldapBerth) put(t *testing.T, path, body string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), "PUT", "http://"+b.Addr+path, strings.NewReader(body))
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := loopback.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %d", path, resp.StatusCode)
	}
}

// push and pull go through the Docker token flow: berth challenges with
// Bearer, the client gets a token from /service/token with the user's
// directory password, then uses it on /v2.
func (b *ldapBerth) push(ctx context.Context, repo, user string) error {
	ref, err := name.ParseReference(b.Addr+"/"+repo+":v1", name.Insecure)
	if err != nil {
		return err
	}
	img, err := random.Image(256, 1)
	if err != nil {
		return err
	}
	return remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: ldapserver.Password(user)}),
		remote.WithTransport(loopback), remote.WithContext(ctx))
}

func (b *ldapBerth) pull(ctx context.Context, repo, user string) error {
	ref, err := name.ParseReference(b.Addr+"/"+repo+":v1", name.Insecure)
	if err != nil {
		return err
	}
	_, err = remote.Get(ref, remote.WithAuth(&authn.Basic{Username: user, Password: ldapserver.Password(user)}),
		remote.WithTransport(loopback), remote.WithContext(ctx))
	return err
}

// TestLDAPClient: Harbor's Ldap operations, LDAP user groups and the
// matrix of LDAP users allowed by a direct membership, a group, a nested
// group, and refused once removed from the group, for pull and push
// through the token flow (and docker login when an engine answers).
func TestLDAPClient(t *testing.T) {
	b := startLDAPBerth(t)
	c := b.client(t, "admin", adminPassword)

	info := must(c.Systeminfo.GetSystemInfo(ctx(t), systeminfo.NewGetSystemInfoParams()))(t).Payload
	if info.AuthMode == nil || *info.AuthMode != "ldap_auth" {
		t.Fatalf("auth_mode: %v", info.AuthMode)
	}
	cfg := must(c.Configure.GetConfigurations(ctx(t), configure.NewGetConfigurationsParams()))(t).Payload
	if cfg.LdapURL == nil || cfg.LdapURL.Value != b.dir.LDAPSURL || cfg.LdapUID.Value != "uid" || cfg.LdapGroupSearchScope.Value != 2 {
		t.Fatalf("configurations: %s", dump(cfg))
	}

	ping := must(c.Ldap.PingLdap(ctx(t), ldap.NewPingLdapParams()))(t).Payload
	if !ping.Success {
		t.Fatalf("ping: %s", dump(ping))
	}
	ping = must(c.Ldap.PingLdap(ctx(t), ldap.NewPingLdapParams().WithLdapconf(&models.LdapConf{LdapSearchPassword: "wrong"})))(t).Payload
	if ping.Success || ping.Message == "" {
		t.Fatalf("ping with a wrong password: %s", dump(ping))
	}
	users := must(c.Ldap.SearchLdapUser(ctx(t), ldap.NewSearchLdapUserParams().WithUsername(ptrTo("car"))))(t).Payload
	if len(users) != 1 || users[0].Username != "carol" || users[0].Email != "carol@example.org" || users[0].Realname != "Carol Example" {
		t.Fatalf("user search: %s", dump(users))
	}
	_, err := c.Ldap.ImportLdapUser(ctx(t), ldap.NewImportLdapUserParams().WithUIDList(&models.LdapImportUsers{LdapUIDList: []string{"alice", "nobody"}}))
	var notFound *ldap.ImportLdapUserNotFound
	if !errors.As(err, &notFound) || len(notFound.Payload) != 1 || notFound.Payload[0].UID != "nobody" {
		t.Fatalf("import with an unknown uid: %v", err)
	}
	must(c.Ldap.ImportLdapUser(ctx(t), ldap.NewImportLdapUserParams().WithUIDList(&models.LdapImportUsers{LdapUIDList: []string{"frank"}})))(t)
	groups := must(c.Ldap.SearchLdapGroup(ctx(t), ldap.NewSearchLdapGroupParams().WithGroupname(ptrTo("dev"))))(t).Payload
	if len(groups) != 1 || groups[0].GroupName != "devs" || !strings.EqualFold(groups[0].LdapGroupDn, ldapserver.GroupDN("devs")) || groups[0].GroupType != 1 {
		t.Fatalf("group search: %s", dump(groups))
	}

	// An LDAP user group must exist in the directory.
	if _, err := c.Usergroup.CreateUserGroup(ctx(t), usergroup.NewCreateUserGroupParams().WithUsergroup(&models.UserGroup{
		GroupType: 1, LdapGroupDn: ldapserver.GroupDN("nope")})); !isStatus(err, 400) {
		t.Fatalf("group not in the directory: %v", err)
	}
	must(c.Usergroup.CreateUserGroup(ctx(t), usergroup.NewCreateUserGroupParams().WithUsergroup(&models.UserGroup{
		GroupType: 1, LdapGroupDn: ldapserver.GroupDN("devs")})))(t)
	dn := ldapserver.GroupDN("devs")
	list := must(c.Usergroup.ListUserGroups(ctx(t), usergroup.NewListUserGroupsParams().WithLdapGroupDn(&dn)))(t).Payload
	if len(list) != 1 || list[0].GroupName != "devs" {
		t.Fatalf("LDAP group: %s", dump(list))
	}

	// The project: alice a direct developer, devs (bob, dave, and carol
	// through platform) developers as a group.
	yes := true
	must(c.Project.CreateProject(ctx(t), project.NewCreateProjectParams().WithProject(&models.ProjectReq{ProjectName: "team"})))(t)
	must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID("team").WithXIsResourceName(&yes).
		WithProjectMember(&models.ProjectMember{RoleID: 2, MemberUser: &models.UserEntity{Username: "alice"}})))(t)
	must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID("team").WithXIsResourceName(&yes).
		WithProjectMember(&models.ProjectMember{RoleID: 2, MemberGroup: &models.UserGroup{ID: list[0].ID}})))(t)

	type outcome struct{ push, pull error }
	try := func(user string) outcome {
		repo := "team/" + user
		o := outcome{push: b.push(ctx(t), repo, user)}
		o.pull = b.pull(ctx(t), repo, user)
		return o
	}
	// The admin pushes one image each repository can be pulled from.
	for _, u := range []string{"alice", "bob", "carol", "dave", "frank"} {
		if err := b.pushAs(ctx(t), "team/"+u); err != nil {
			t.Fatal(err)
		}
	}
	docker := b.newDocker(t)
	for _, tc := range []struct{ user, how string }{{"alice", "direct member"}, {"bob", "via group"}, {"carol", "via nested group"},
		{"dave", "via group, before removal"}} {
		o := try(tc.user)
		t.Logf("matrix: %-6s %-26s token flow: push=%v pull=%v", tc.user, tc.how, o.push == nil, o.pull == nil)
		if o.push != nil || o.pull != nil {
			t.Errorf("%s (%s): push %v, pull %v", tc.user, tc.how, o.push, o.pull)
		}
		if docker != nil {
			d := docker.try(t, tc.user)
			t.Logf("matrix: %-6s %-26s docker login=%v push=%v pull=%v", tc.user, tc.how, d.login == nil, d.push == nil, d.pull == nil)
			if d.login != nil || d.push != nil || d.pull != nil {
				t.Errorf("%s (%s) with docker: login %v, push %v, pull %v", tc.user, tc.how, d.login, d.push, d.pull)
			}
		}
	}
	if o := try("frank"); o.push == nil || o.pull == nil {
		t.Errorf("frank (no membership): push %v, pull %v", o.push, o.pull)
	} else {
		t.Logf("matrix: %-6s %-26s token flow: push=false pull=false", "frank", "no membership")
	}
	// A token dave got while in devs, used again after he left it.
	daveToken := b.token(t, "dave", "repository:team/dave:pull,push")
	if code := b.getManifest(t, "team/dave", daveToken); code != 200 {
		t.Fatalf("dave's token while in devs: %d", code)
	}
	// dave leaves devs: refused once the cache time has passed.
	if err := b.dir.RemoveMember(ldapserver.GroupDN("devs"), ldapserver.UserDN("dave")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(cacheTTL + 500*time.Millisecond)
	o := try("dave")
	t.Logf("matrix: %-6s %-26s token flow: push=%v pull=%v", "dave", "removed from group", o.push == nil, o.pull == nil)
	if o.push == nil || o.pull == nil {
		t.Errorf("dave after removal: push %v, pull %v", o.push, o.pull)
	}
	code := b.getManifest(t, "team/dave", daveToken)
	t.Logf("matrix: %-6s %-26s token issued before removal: GET manifest %d", "dave", "removed from group", code)
	if code != 403 && code != 401 {
		t.Errorf("dave's earlier token after removal: %d, want 401 or 403", code)
	}
	if docker != nil {
		d := docker.try(t, "dave")
		t.Logf("matrix: %-6s %-26s docker login=%v push=%v pull=%v", "dave", "removed from group", d.login == nil, d.push == nil, d.pull == nil)
		if d.login != nil || d.push == nil || d.pull == nil { // his password is still good; the project is not his
			t.Errorf("dave after removal with docker: login %v, push %v, pull %v", d.login, d.push, d.pull)
		}
	}
	// The effective role through the API, as carol (nested) sees it.
	p := must(b.client(t, "carol", ldapserver.Password("carol")).Project.GetProject(ctx(t),
		project.NewGetProjectParams().WithProjectNameOrID("team").WithXIsResourceName(&yes)))(t).Payload
	if p.CurrentUserRoleID != 2 {
		t.Errorf("carol's role: %d", p.CurrentUserRoleID)
	}
	// erin is in the admin group: a system administrator.
	if _, err := b.client(t, "erin", ldapserver.Password("erin")).Usergroup.ListUserGroups(ctx(t), usergroup.NewListUserGroupsParams()); err != nil {
		t.Errorf("erin (ldap_group_admin_dn): %v", describe(err))
	}
	if docker != nil {
		if err := docker.login("bob", "wrong"); err == nil {
			t.Error("docker login with a wrong password succeeded")
		}
	}

	// Directory down: the local admin still works (break-glass, audited),
	// directory users fail fast.
	b.dir.Stop()
	start := time.Now()
	if err := b.pull(ctx(t), "team/bob", "bob"); err == nil {
		t.Error("bob pulled with the directory down")
	}
	d := time.Since(start)
	if d > 10*time.Second {
		t.Errorf("a login with the directory down took %s", d)
	}
	if err := b.pushAs(ctx(t), "team/admin"); err != nil {
		t.Errorf("admin with the directory down: %v", err)
	}
	t.Logf("directory down: bob's pull refused after %s; admin (break-glass) pushed", d.Round(time.Millisecond))
	q := "operation=login"
	await(t, func() (bool, string) {
		logs := must(c.Auditlog.ListAuditLogs(ctx(t), auditlog.NewListAuditLogsParams().WithQ(&q).WithPageSize(ptrTo(int64(100)))))(t).Payload
		for _, l := range logs {
			if strings.Contains(l.Resource, "break-glass") {
				return true, ""
			}
		}
		return false, "no break-glass login record: " + dump(logs)
	})
}

// pushAs pushes an image as the local administrator (break-glass).
func (b *ldapBerth) pushAs(ctx context.Context, repo string) error {
	ref, err := name.ParseReference(b.Addr+"/"+repo+":v1", name.Insecure)
	if err != nil {
		return err
	}
	img, err := random.Image(256, 1)
	if err != nil {
		return err
	}
	return remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
		remote.WithTransport(loopback), remote.WithContext(ctx))
}

// token gets a registry token for user (directory password) from
// /service/token.
func (b *ldapBerth) token(t *testing.T, user, scope string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), "GET", "http://"+b.Addr+"/service/token?service=berth&scope="+url.QueryEscape(scope), nil)
	req.SetBasicAuth(user, ldapserver.Password(user))
	resp, err := loopback.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.Token == "" {
		t.Fatalf("token of %s: %d %v", user, resp.StatusCode, err)
	}
	return body.Token
}

// getManifest reads repo:v1 with a bearer token and returns the status.
func (b *ldapBerth) getManifest(t *testing.T, repo, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), "GET", "http://"+b.Addr+"/v2/"+repo+"/manifests/v1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := loopback.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// ldapDocker runs the docker CLI against the LDAP berth, each user with a
// docker configuration of its own.
type ldapDocker struct {
	b      *ldapBerth
	docker string
	dir    string
}

// newDocker is nil (and says so) when no docker engine answers.
func (b *ldapBerth) newDocker(t *testing.T) *ldapDocker {
	t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "info").Run() != nil {
		noDocker(t, "matrix: docker login not tried (no docker engine)")
		return nil
	}
	return &ldapDocker{b: b, docker: docker, dir: t.TempDir()}
}

func (d *ldapDocker) run(user, stdin string, args ...string) error {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, d.docker, append([]string{"--config", filepath.Join(d.dir, user)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %v: %s", args[0], err, out)
	}
	return nil
}

func (d *ldapDocker) login(user, password string) error {
	return d.run(user, password, "login", d.b.Addr, "-u", user, "--password-stdin")
}

type dockerOutcome struct{ login, push, pull error }

// try: docker login with user's directory password, push an image of one
// small file to team/USER:docker, remove it locally and pull it back.
func (d *ldapDocker) try(t *testing.T, user string) dockerOutcome {
	t.Helper()
	var o dockerOutcome
	if o.login = d.login(user, ldapserver.Password(user)); o.login != nil {
		return o
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	body := "hello " + user + " " + time.Now().String()
	_ = tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body))})
	_, _ = tw.Write([]byte(body))
	_ = tw.Close()
	tag := d.b.Addr + "/team/" + user + ":docker"
	if err := d.run(user, layer.String(), "import", "-", tag); err != nil {
		t.Fatal(err)
	}
	o.push = d.run(user, "", "push", tag)
	_ = d.run(user, "", "rmi", "-f", tag)
	if o.push != nil { // pull what the admin pushed
		tag = d.b.Addr + "/team/" + user + ":v1"
	}
	o.pull = d.run(user, "", "pull", tag)
	_ = d.run(user, "", "rmi", "-f", tag)
	_ = d.run(user, "", "logout", d.b.Addr)
	return o
}
