package harborapi

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/goharbor/go-client/pkg/harbor"
	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/auditlog"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/oidc"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/usergroup"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/oidcop"
)

// oidcBerth starts a second berth (auth_mode can only change while admin
// is its only user) and a provider that knows its callback.
func oidcBerth(t *testing.T) (*berthproc.Server, *oidcop.Provider) {
	t.Helper()
	dir := t.TempDir()
	s, err := berthproc.Launch(dir, []string{"BERTH_ADMIN_PASSWORD=" + adminPassword}, "--auth=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the OIDC berth's warnings and errors:\n%s", s.Problems())
		}
		s.Stop()
	})
	op := oidcop.Start(t, oidcop.Client{ID: "berth", Secret: "client-secret-1", RedirectURI: s.URL + "/c/oidc/callback"},
		oidcop.User{ID: "sub-alice", Username: "alice", Password: "alice-pw", Email: "alice@example.com", Groups: []string{"team-a"}},
		oidcop.User{ID: "sub-carol", Username: "carol", Password: "carol-pw", Groups: []string{"berth-admins"}},
		oidcop.User{ID: "sub-dave", Username: "dave", Password: "dave-pw"})
	return s, op
}

// clientAt is clientAs for another berth (recorded as well).
func clientAt(t testing.TB, base, username, password string) *v2client.HarborAPI {
	t.Helper()
	u, err := url.Parse(base + v2client.DefaultBasePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := harbor.Config{URL: u, Transport: recorder{loopback}, AuthInfo: httptransport.BasicAuth(username, password)}
	return v2client.New(cfg.ToV2Config())
}

// oidcSignIn runs the browser flow and returns the signed-in user as
// /users/current tells it.
func oidcSignIn(t *testing.T, s *berthproc.Server, op *oidcop.Provider, username, password string) *models.UserResp {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: requestTimeout, Transport: loopback}
	resp, err := b.Get(s.URL + "/c/oidc/login?redirect_url=" + url.QueryEscape("/api/v2.0/users/current"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != oidcop.LoginPath {
		t.Fatalf("/c/oidc/login ended at %s: %d", resp.Request.URL, resp.StatusCode)
	}
	resp, err = b.PostForm(op.Issuer+oidcop.LoginPath, oidcop.LoginForm(resp.Request.URL, username, password))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var u models.UserResp
	if resp.StatusCode != 200 || json.Unmarshal(body, &u) != nil {
		t.Fatalf("sign-in of %s: %d %s", username, resp.StatusCode, body)
	}
	return &u
}

// TestOIDC: pingOIDC and setCliSecret through the go-client on a berth
// signing users in with an OIDC provider; the CLI secret pushes through
// the registry's token flow (and docker login, when a docker engine is
// here), rotates, and outlives the provider's refresh tokens.
func TestOIDC(t *testing.T) {
	s, op := oidcBerth(t)
	admin := clientAt(t, s.URL, "admin", adminPassword)

	must(admin.OIDC.PingOIDC(ctx(t), oidc.NewPingOIDCParams().WithEndpoint(oidc.PingOIDCBody{URL: op.Issuer, VerifyCert: true})))(t)
	if _, err := admin.OIDC.PingOIDC(ctx(t), oidc.NewPingOIDCParams().WithEndpoint(oidc.PingOIDCBody{URL: s.URL})); !isStatus(err, 400) {
		t.Fatalf("pingOIDC of berth itself: %v, want 400", describe(err))
	}
	str := func(v string) *string { return &v }
	yes, no := true, false
	must(admin.Configure.UpdateConfigurations(ctx(t), configure.NewUpdateConfigurationsParams().WithConfigurations(&models.Configurations{
		AuthMode: str("oidc_auth"), OIDCName: str("test provider"), OIDCEndpoint: str(op.Issuer), OIDCClientID: str("berth"),
		OIDCClientSecret: str("client-secret-1"), OIDCScope: str("openid,offline_access"), OIDCVerifyCert: &no,
		OIDCGroupsClaim: str(oidcop.GroupsClaim), OIDCAdminGroup: str("berth-admins"), OIDCUserClaim: str("preferred_username"),
		OIDCAutoOnboard: &yes, OIDCExtraRedirectParms: str(`{"prompt":"login"}`),
	})))(t)
	cfg := must(admin.Configure.GetConfigurations(ctx(t), configure.NewGetConfigurationsParams()))(t).Payload
	if cfg.AuthMode == nil || cfg.AuthMode.Value != "oidc_auth" || cfg.OIDCEndpoint == nil || cfg.OIDCEndpoint.Value != op.Issuer ||
		cfg.OIDCAutoOnboard == nil || !cfg.OIDCAutoOnboard.Value {
		t.Fatalf("configurations: %s", dump(cfg))
	}

	alice := oidcSignIn(t, s, op, "alice", "alice-pw")
	if alice.Username != "alice" || alice.SysadminFlag {
		t.Fatalf("alice: %s", dump(alice))
	}
	t.Logf("matrix: oidc alice onboarded at first sign-in: user_id=%d sysadmin=%v", alice.UserID, alice.SysadminFlag)
	carol := oidcSignIn(t, s, op, "carol", "carol-pw")
	if !carol.SysadminFlag {
		t.Fatalf("carol (admin group): %s", dump(carol))
	}
	t.Logf("matrix: oidc carol in oidc_admin_group: sysadmin=%v", carol.SysadminFlag)

	// The administrator sets alice's CLI secret (Harbor's body).
	must(admin.User.SetCliSecret(ctx(t), user.NewSetCliSecretParams().WithUserID(alice.UserID).
		WithSecret(&models.OIDCCliSecretReq{Secret: "Alice-Cli-Secret-1"})))(t)
	ac := clientAt(t, s.URL, "alice", "Alice-Cli-Secret-1")
	me := must(ac.User.GetCurrentUserInfo(ctx(t), user.NewGetCurrentUserInfoParams()))(t).Payload
	if me.UserID != alice.UserID || me.OIDCUserMeta == nil || me.OIDCUserMeta.Subiss != "sub-alice"+op.Issuer ||
		me.OIDCUserMeta.Secret != "" {
		t.Fatalf("current user with the CLI secret: %s", dump(me))
	}
	info := must(admin.Systeminfo.GetSystemInfo(ctx(t), systeminfo.NewGetSystemInfoParams()))(t).Payload
	if info.OIDCProviderName == nil || *info.OIDCProviderName != "test provider" {
		t.Fatalf("systeminfo: %s", dump(info))
	}

	// alice's group is made a developer of a project: she pushes there.
	proj := unique("oidc")
	must(admin.Project.CreateProject(ctx(t), project.NewCreateProjectParams().WithProject(&models.ProjectReq{ProjectName: proj})))(t)
	groups := must(admin.Usergroup.ListUserGroups(ctx(t), usergroup.NewListUserGroupsParams().WithGroupName(str("team-a"))))(t).Payload
	if len(groups) != 1 || groups[0].GroupType != 3 {
		t.Fatalf("OIDC user groups: %s", dump(groups))
	}
	must(admin.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes).WithProjectMember(&models.ProjectMember{RoleID: 2, MemberGroup: &models.UserGroup{ID: groups[0].ID}})))(t)
	pushAs := func(secret string) error {
		ref, err := name.ParseReference(s.Addr+"/"+proj+"/app:1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := random.Image(256, 1)
		return remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: secret}),
			remote.WithContext(ctx(t)), remote.WithTransport(loopback))
	}
	if err := pushAs("Alice-Cli-Secret-1"); err != nil {
		t.Fatalf("push with the CLI secret: %v", err)
	}
	t.Log("matrix: oidc alice CLI secret: token-flow push ok")
	dockerLogin(t, s, proj, "alice", "Alice-Cli-Secret-1")

	// Rotated: the old secret is refused at once, the new one works.
	must(ac.User.SetCliSecret(ctx(t), user.NewSetCliSecretParams().WithUserID(alice.UserID).
		WithSecret(&models.OIDCCliSecretReq{Secret: "Alice-Cli-Secret-2"})))(t)
	if _, err := ac.User.GetCurrentUserInfo(ctx(t), user.NewGetCurrentUserInfoParams()); !isStatus(err, 401) {
		t.Fatalf("the old secret after rotation: %v", describe(err))
	}
	if err := pushAs("Alice-Cli-Secret-1"); err == nil {
		t.Fatal("push with the old secret succeeded")
	}
	// The provider's refresh tokens revoked: the CLI secret does not care.
	rts := op.RefreshTokens()
	if len(rts) == 0 {
		t.Fatal("the provider issued no refresh tokens")
	}
	for _, rt := range rts {
		if err := op.Storage.RevokeToken(context.Background(), rt, "sub-alice", "berth"); err != nil {
			t.Fatal(err)
		}
	}
	// The provider refuses them now, as it would expired ones.
	disc, err := http.Get(op.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(disc.Body).Decode(&meta)
	disc.Body.Close()
	if err != nil || meta.TokenEndpoint == "" {
		t.Fatalf("discovery: %v", err)
	}
	refreshed, err := http.PostForm(meta.TokenEndpoint, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rts[0]},
		"client_id": {"berth"}, "client_secret": {"client-secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	refreshed.Body.Close()
	if refreshed.StatusCode == 200 {
		t.Fatal("the provider still takes alice's refresh token")
	}
	if err := pushAs("Alice-Cli-Secret-2"); err != nil {
		t.Fatalf("push with the rotated secret after the refresh tokens were revoked: %v", err)
	}
	t.Logf("matrix: oidc alice refresh token refused by the provider (%d); rotated CLI secret: token-flow push ok, old secret refused",
		refreshed.StatusCode)
	dockerLogin(t, s, proj, "alice", "Alice-Cli-Secret-2")
	if exec.Command("docker", "info").Run() == nil {
		cmd := exec.CommandContext(ctx(t), "docker", "--config", t.TempDir(), "login", s.Addr, "-u", "alice", "--password-stdin")
		cmd.Stdin = strings.NewReader("Alice-Cli-Secret-1")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("docker login with the rotated-out secret succeeded: %s", out)
		} else {
			t.Log("matrix: oidc alice docker login with the old secret refused")
		}
	}
	// The local administrator keeps its password (break-glass), audited.
	must(admin.User.GetCurrentUserInfo(ctx(t), user.NewGetCurrentUserInfoParams()))(t)
	q := "operation=login"
	await(t, func() (bool, string) {
		logs := must(admin.Auditlog.ListAuditLogs(ctx(t), auditlog.NewListAuditLogsParams().WithQ(&q).WithPageSize(ptrTo(int64(100)))))(t).Payload
		for _, l := range logs {
			if strings.Contains(l.Resource, "break-glass") && strings.Contains(l.Resource, "oidc_auth") {
				return true, ""
			}
		}
		return false, "no break-glass login record under oidc_auth: " + dump(logs)
	})

	// Without automatic onboarding, a new user chooses a name (Harbor's
	// /oidc-onboard page posts it to /c/oidc/onboard).
	must(admin.Configure.UpdateConfigurations(ctx(t), configure.NewUpdateConfigurationsParams().WithConfigurations(&models.Configurations{
		OIDCAutoOnboard: &no})))(t)
	oidcChooseName(t, s, op, "dave", "dave-pw", "dave-chosen")
}

// oidcChooseName signs a provider user without a berth user in, follows
// the callback to the onboarding page and posts the chosen name.
func oidcChooseName(t *testing.T, s *berthproc.Server, op *oidcop.Provider, username, password, chosen string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var page *url.URL
	b := &http.Client{Jar: jar, Timeout: requestTimeout, Transport: loopback, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/oidc-onboard" {
			page = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := b.Get(s.URL + "/c/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = b.PostForm(op.Issuer+oidcop.LoginPath, oidcop.LoginForm(resp.Request.URL, username, password))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if page == nil || page.Query().Get("username") != username {
		t.Fatalf("the callback did not send %s to the onboarding page (%d, %v)", username, resp.StatusCode, page)
	}
	resp, err = b.Post(s.URL+"/c/oidc/onboard", "application/json", strings.NewReader(`{"username":"`+chosen+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("onboarding as %s: %d", chosen, resp.StatusCode)
	}
	resp, err = b.Get(s.URL + "/api/v2.0/users/current")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u models.UserResp
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || u.Username != chosen || u.OIDCUserMeta == nil {
		t.Fatalf("after onboarding: %d %+v %v", resp.StatusCode, u, err)
	}
}

// dockerLogin signs docker in with the CLI secret and pushes an image,
// when a docker engine answers here.
func dockerLogin(t *testing.T, s *berthproc.Server, proj, username, secret string) {
	t.Helper()
	if exec.Command("docker", "info").Run() != nil {
		noDocker(t, "no docker engine here: docker login not tried")
		return
	}
	cfgDir := t.TempDir() // not the user's docker config
	docker := func(stdin string, args ...string) (string, error) {
		c, cancel := context.WithTimeout(ctx(t), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(c, "docker", append([]string{"--config", cfgDir}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := docker(secret, "login", s.Addr, "-u", username, "--password-stdin"); err != nil {
		t.Fatalf("docker login with the CLI secret: %v\n%s", err, out)
	}
	// An image with one small file: docker import needs no base image.
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	_ = tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 5})
	_, _ = tw.Write([]byte("hello"))
	_ = tw.Close()
	tag := s.Addr + "/" + proj + "/docker:1"
	if out, err := docker(layer.String(), "import", "-", tag); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	defer docker("", "rmi", "-f", tag) //nolint:errcheck // cleanup
	if out, err := docker("", "push", tag); err != nil {
		t.Fatalf("docker push with the CLI secret: %v\n%s", err, out)
	}
	if out, err := docker("", "rmi", "-f", tag); err != nil {
		t.Fatalf("docker rmi: %v\n%s", err, out)
	}
	if out, err := docker("", "pull", tag); err != nil {
		t.Fatalf("docker pull with the CLI secret: %v\n%s", err, out)
	}
	t.Logf("matrix: oidc %s docker login, push and pull of %s with the CLI secret: ok", username, tag)
	if out, err := docker("", "logout", s.Addr); err != nil {
		t.Logf("docker logout: %v\n%s", err, out)
	}
}

// noDocker reports that the docker CLI steps could not run: a failure
// under BERTH_E2E_REQUIRE=1 (CI, where an engine is there), a log line
// otherwise (the rest of the test still runs).
func noDocker(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("BERTH_E2E_REQUIRE") == "1" {
		t.Error(msg + " (BERTH_E2E_REQUIRE=1)")
		return
	}
	t.Log(msg)
}
