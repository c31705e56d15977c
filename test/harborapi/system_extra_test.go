package harborapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/goharbor/go-client/pkg/harbor"
	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/icon"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/permissions"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/ping"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/search"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/statistic"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

	"github.com/berth-registry/berth/test/berthproc"
)

// imageIcon is Harbor's digest of the container image icon
// (src/lib/icon).
const imageIcon = "sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06"

// TestSystemExtra: ping, statistics, volumes, search, icons and the
// configuration through Harbor's client.
func TestSystemExtra(t *testing.T) {
	c := client(t)

	t.Run("ping", func(t *testing.T) {
		if got := must(c.Ping.GetPing(ctx(t), ping.NewGetPingParams()))(t).Payload; got != "Pong" {
			t.Errorf("getPing = %q", got)
		}
	})

	t.Run("statistics", func(t *testing.T) {
		u := newUser(t, c)
		uc := clientAs(t, u.Username, userPassword)
		mine := newProject(t, uc) // private; its creator is its project admin
		pushImage(t, mine+"/app", "v1")
		admin := must(c.Statistic.GetStatistic(ctx(t), statistic.NewGetStatisticParams()))(t).Payload
		if admin.TotalProjectCount != admin.PublicProjectCount+admin.PrivateProjectCount || admin.PrivateProjectCount < 1 ||
			admin.TotalRepoCount < 1 || admin.TotalStorageConsumption <= 0 {
			t.Errorf("getStatistic as admin = %s", dump(admin))
		}
		st := must(uc.Statistic.GetStatistic(ctx(t), statistic.NewGetStatisticParams()))(t).Payload
		if st.PrivateProjectCount != 1 || st.PrivateRepoCount != 1 || st.PublicProjectCount != admin.PublicProjectCount ||
			st.TotalProjectCount != 0 || st.TotalStorageConsumption != 0 {
			t.Errorf("getStatistic as a user = %s (admin sees %s)", dump(st), dump(admin))
		}
	})

	t.Run("volumes", func(t *testing.T) {
		v := must(c.Systeminfo.GetVolumes(ctx(t), systeminfo.NewGetVolumesParams()))(t).Payload
		if len(v.Storage) != 1 || v.Storage[0].Total == 0 || v.Storage[0].Free > v.Storage[0].Total {
			t.Errorf("getVolumes = %s", dump(v))
		}
		u := newUser(t, c)
		if _, err := clientAs(t, u.Username, userPassword).Systeminfo.GetVolumes(ctx(t), systeminfo.NewGetVolumesParams()); !isStatus(err, 403) {
			t.Errorf("getVolumes as a user: %v", err)
		}
	})

	t.Run("search", func(t *testing.T) {
		proj := newProject(t, c)
		pushImage(t, proj+"/needle", "v1")
		res := must(c.Search.Search(ctx(t), search.NewSearchParams().WithQ(proj)))(t).Payload
		if len(res.Project) != 1 || res.Project[0].Name != proj || res.Project[0].RepoCount != 1 {
			t.Errorf("search projects = %s", dump(res.Project))
		}
		if len(res.Repository) != 1 || res.Repository[0].RepositoryName != proj+"/needle" || res.Repository[0].ProjectName != proj ||
			res.Repository[0].ArtifactCount != 1 || res.Repository[0].ProjectPublic {
			t.Errorf("search repositories = %s", dump(res.Repository))
		}
		// Another user sees neither the private project nor its repository.
		u := newUser(t, c)
		res = must(clientAs(t, u.Username, userPassword).Search.Search(ctx(t), search.NewSearchParams().WithQ(proj)))(t).Payload
		if len(res.Project) != 0 || len(res.Repository) != 0 {
			t.Errorf("search as an outsider = %s", dump(res))
		}
	})

	t.Run("icon", func(t *testing.T) {
		ic := must(c.Icon.GetIcon(ctx(t), icon.NewGetIconParams().WithDigest(imageIcon)))(t).Payload
		svg, err := base64.StdEncoding.DecodeString(ic.Content)
		if err != nil || ic.ContentType != "image/svg+xml" || !bytes.HasPrefix(svg, []byte("<svg ")) {
			t.Errorf("getIcon = %s (%v)", dump(ic), err)
		}
		if _, err := c.Icon.GetIcon(ctx(t), icon.NewGetIconParams().WithDigest("sha256:"+strings.Repeat("0", 64))); !isStatus(err, 404) {
			t.Errorf("getIcon of an unknown digest: %v", err)
		}
	})

	t.Run("configurations", func(t *testing.T) {
		cfg := must(c.Configure.GetConfigurations(ctx(t), configure.NewGetConfigurationsParams()))(t).Payload
		if cfg.RobotNamePrefix == nil || cfg.RobotNamePrefix.Value != "robot$" || cfg.RobotNamePrefix.Editable ||
			cfg.AuthMode == nil || cfg.AuthMode.Value != "db_auth" || cfg.RobotTokenDuration == nil || !cfg.RobotTokenDuration.Editable ||
			cfg.ReadOnly == nil || cfg.ReadOnly.Value || cfg.TokenExpiration == nil || cfg.TokenExpiration.Value <= 0 {
			t.Fatalf("getConfigurations = %s", dump(cfg))
		}
		banner := `{"closable":true,"message":"maintenance at 22:00","type":"warning"}`
		old := cfg.BannerMessage.Value
		t.Cleanup(func() { // t's context has ended by now
			must(c.Configure.UpdateConfigurations(context.Background(), configure.NewUpdateConfigurationsParams().
				WithConfigurations(&models.Configurations{BannerMessage: &old})))(t)
		})
		must(c.Configure.UpdateConfigurations(ctx(t), configure.NewUpdateConfigurationsParams().
			WithConfigurations(&models.Configurations{BannerMessage: &banner, ProjectCreationRestriction: ptr("everyone")})))(t)
		info := must(c.Systeminfo.GetSystemInfo(ctx(t), systeminfo.NewGetSystemInfoParams()))(t).Payload
		if info.BannerMessage == nil || *info.BannerMessage != banner {
			t.Errorf("getSystemInfo after updateConfigurations: %s", dump(info))
		}
		// A setting berth does not let the API change is refused, and so
		// is the whole request.
		_, err := c.Configure.UpdateConfigurations(ctx(t), configure.NewUpdateConfigurationsParams().
			WithConfigurations(&models.Configurations{TokenExpiration: ptr(int64(60)), BannerMessage: ptr("other")}))
		if !isStatus(err, 400) || !strings.Contains(describe(err), "token_expiration: not editable") {
			t.Errorf("updateConfigurations of token_expiration: %s", describe(err))
		}
		if cfg := must(c.Configure.GetConfigurations(ctx(t), configure.NewGetConfigurationsParams()))(t).Payload; cfg.BannerMessage.Value != banner {
			t.Errorf("a refused update changed banner_message to %q", cfg.BannerMessage.Value)
		}
	})

	t.Run("read-only mode", func(t *testing.T) {
		setRO := func(on bool) {
			t.Helper()
			must(c.Configure.UpdateConfigurations(context.Background(), configure.NewUpdateConfigurationsParams().
				WithConfigurations(&models.Configurations{ReadOnly: &on})))(t)
		}
		setRO(true)
		t.Cleanup(func() { setRO(false) })
		info := must(c.Systeminfo.GetSystemInfo(ctx(t), systeminfo.NewGetSystemInfoParams()))(t).Payload
		if info.ReadOnly == nil || !*info.ReadOnly {
			t.Errorf("getSystemInfo in read-only mode: %s", dump(info))
		}
		// Every change is refused with Harbor's 403 DENIED.
		name := unique("rouser")
		_, err := c.User.CreateUser(ctx(t), user.NewCreateUserParams().WithUserReq(&models.UserCreationReq{
			Username: name, Email: name + "@example.com", Realname: "Read Only", Password: userPassword}))
		if !isStatus(err, 403) || !strings.Contains(lastAnswer(), `"code":"DENIED"`) {
			t.Errorf("createUser in read-only mode: %s %s", describe(err), lastAnswer())
		}
	})
}

// lastAnswer is the body of the last error answer recorded (the
// go-client's typed errors for some statuses keep none).
func lastAnswer() string {
	calls.Lock()
	defer calls.Unlock()
	if n := len(calls.list); n > 0 {
		return calls.list[n-1].answer
	}
	return ""
}

// TestGetCert: a berth serving HTTPS from a certificate chain that
// includes its CA hands that CA out through getCert; Harbor's client,
// trusting only it, reaches berth.
func TestGetCert(t *testing.T) {
	caPEM, chain, key := testChain(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string][]byte{certFile: chain, keyFile: key} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := berthproc.StartEnv(t, filepath.Join(dir, "data"), []string{"BERTH_ADMIN_PASSWORD=" + adminPassword},
		"--auth=true", "--tls-cert", certFile, "--tls-key", keyFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tc := tlsClient(t, "https://"+s.Addr, &tls.Config{RootCAs: pool})

	var got bytes.Buffer
	ok := must(tc.Systeminfo.GetCert(ctx(t), systeminfo.NewGetCertParams(), &got))(t)
	if !bytes.Equal(got.Bytes(), caPEM) || ok.ContentDisposition != "attachment; filename=ca.crt" {
		t.Errorf("getCert = %q, Content-Disposition %q", got.String(), ok.ContentDisposition)
	}
	info := must(tc.Systeminfo.GetSystemInfo(ctx(t), systeminfo.NewGetSystemInfoParams()))(t).Payload
	if info.HasCaRoot == nil || !*info.HasCaRoot {
		t.Errorf("getSystemInfo over HTTPS: has_ca_root %v", info.HasCaRoot)
	}

	// The shared berth speaks plain HTTP: no CA.
	if _, err := client(t).Systeminfo.GetCert(ctx(t), systeminfo.NewGetCertParams(), &got); !isStatus(err, 404) {
		t.Errorf("getCert over plain HTTP: %v", err)
	}
}

// tlsClient is Harbor's client for the berth at base over HTTPS with tc,
// as the administrator, recorded like clientAs's.
func tlsClient(t *testing.T, base string, tc *tls.Config) harborClient {
	t.Helper()
	u, err := url.Parse(base + v2client.DefaultBasePath)
	if err != nil {
		t.Fatal(err)
	}
	tr := bounded{&http.Transport{Proxy: nil, TLSClientConfig: tc}}
	cfg := harbor.Config{URL: u, Transport: recorder{tr}, AuthInfo: httptransport.BasicAuth("admin", adminPassword)}
	return v2client.New(cfg.ToV2Config())
}

// testChain makes a CA and a server certificate for 127.0.0.1 it issued:
// the CA's PEM, the chain file (server certificate, then the CA) and the
// server's key.
func testChain(t *testing.T) (caPEM, chain, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "harborapi test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	chain = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), caPEM...)
	return caPEM, chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kDER})
}

// TestHarborCLIProjectRobotCreate replays harbor project robot create
// --project P --name N --description D --duration 90 --all-permission
// (cmd/harbor/root/project/robot/create.go with pkg/api/robot_handler.go
// and project_handler.go): every project permission there is
// (GetPermissions), the project by name, CheckRobotWithNameExists (the
// project's robots with a q harbor-cli escapes itself, the project again
// by id, the configuration for robot_name_prefix), then CreateRobot. Run
// again, the same preamble finds the robot and harbor-cli stops before
// creating it.
func TestHarborCLIProjectRobotCreate(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	name := unique("clirobot")
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).WithXIsResourceName(ptr(true))))(t).Payload
	id := strconv.FormatInt(int64(p.ProjectID), 10)

	// exists is CheckRobotWithNameExists: it lists the project's robots
	// (ListFlags{Q: constants.ProjectQString + id}: page and page_size 0,
	// sort empty) and looks for prefix+project+"+"+name.
	exists := func(t *testing.T) bool {
		t.Helper()
		trueName, falseName := true, false
		got := must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: proj, XIsResourceName: &trueName}))(t).Payload
		q := "Level%3Dproject%2CProjectID%3D" + strconv.FormatInt(int64(got.ProjectID), 10)
		var page, size int64
		var sort string
		list := must(c.Robot.ListRobot(ctx(t), &robot.ListRobotParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		byID := must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: id, XIsResourceName: &falseName}))(t).Payload
		cfg := must(c.Configure.GetConfigurations(ctx(t), &configure.GetConfigurationsParams{}))(t).Payload
		if cfg.RobotNamePrefix == nil {
			t.Fatal("configurations have no robot_name_prefix: harbor-cli dereferences it")
		}
		for _, rb := range list {
			if rb.Name == cfg.RobotNamePrefix.Value+byID.Name+"+"+name {
				return true
			}
		}
		return false
	}
	preamble := []string{
		"GET /projects/" + proj + " [X-Is-Resource-Name: true]",
		"GET /robots?page=0&page_size=0&q=Level%253Dproject%252CProjectID%253D" + id,
		"GET /projects/" + id + " [X-Is-Resource-Name: false]",
		"GET /configurations",
	}

	t.Run("project robot create", func(t *testing.T) {
		r := cli(t, append([]string{"GET /permissions"}, preamble...)...)
		perms := must(c.Permissions.GetPermissions(ctx(t), &permissions.GetPermissionsParams{}))(t).Payload
		if len(perms.Project) == 0 {
			t.Fatal("getPermissions lists no project permission")
		}
		var access []*models.Access
		for _, p := range perms.Project {
			access = append(access, &models.Access{Action: p.Action, Resource: p.Resource})
		}
		if exists(t) {
			t.Fatalf("robot %s exists before it was created", name)
		}
		req := &models.RobotCreate{Description: "from harbor-cli", Duration: 90, Level: "project", Name: name,
			Permissions: []*models.RobotPermission{{Kind: "project", Namespace: proj, Access: access}}}
		r.expect("POST /robots " + body(req))
		created := must(c.Robot.CreateRobot(ctx(t), &robot.CreateRobotParams{Robot: req}))(t).Payload
		if created.Name != "robot$"+proj+"+"+name || created.Secret == "" || created.ExpiresAt <= time.Now().Unix() {
			t.Errorf("project robot create = %s", dump(created))
		}
	})

	t.Run("project robot create, again", func(t *testing.T) {
		cli(t, preamble...)
		if !exists(t) {
			t.Errorf("CheckRobotWithNameExists does not find robot %s: harbor-cli would create it twice", name)
		}
	})
}
