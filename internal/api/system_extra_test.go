package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/settings"
)

// newSystemEnv is newEnv with the system options app wires: settings on
// the test's store and the local blob store.
func newSystemEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	blobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.api.opt.System = SystemOptions{Settings: settings.New(e.store, nil), Blobs: blobs, StorageProvider: "filesystem",
		TokenTTL: 30 * time.Minute}
	return e
}

func TestPing(t *testing.T) {
	e := newSystemEnv(t)
	resp, body := e.req(cred{}, "GET", Prefix+"/ping", nil)
	if resp.StatusCode != 200 || body != "Pong" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("ping: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	e.expect(200, e.admin, "GET", Prefix+"/ping", nil)
}

// robotCred creates a project robot with pull in p and returns it.
func (e *env) robotCred(p, name string) cred {
	e.t.Helper()
	created := decode[robotCreated](e.t, e.expect(201, e.admin, "POST", Prefix+"/robots", map[string]any{
		"name": name, "level": "project", "duration": -1, "permissions": []map[string]any{{"kind": "project", "namespace": p,
			"access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}))
	return cred{created.Name, created.Secret}
}

func TestStatistics(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	e.project("pub", true, nil)
	e.project("mine", false, map[cred]int{alice: int(rbac.RoleDeveloper)})
	e.project("other", false, nil)
	e.push("pub/a", "v1")
	e.push("pub/b", "v1")
	e.push("mine/app", "v1")
	e.push("other/x", "v1")
	e.push("other/y", "v1")
	e.push("other/z", "v1")
	bot := e.robotCred("mine", "stats")

	admin := decode[statistic](t, e.expect(200, e.admin, "GET", Prefix+"/statistics", nil))
	if admin.PublicProjectCount != 1 || admin.PublicRepoCount != 2 || admin.PrivateProjectCount != 2 || admin.PrivateRepoCount != 4 ||
		admin.TotalProjectCount != 3 || admin.TotalRepoCount != 6 || admin.TotalStorageConsumption <= 0 {
		t.Errorf("admin statistics: %+v", admin)
	}
	user := decode[statistic](t, e.expect(200, alice, "GET", Prefix+"/statistics", nil))
	if user != (statistic{PublicProjectCount: 1, PublicRepoCount: 2, PrivateProjectCount: 1, PrivateRepoCount: 1}) {
		t.Errorf("user statistics: %+v", user)
	}
	robot := decode[statistic](t, e.expect(200, bot, "GET", Prefix+"/statistics", nil))
	if robot != (statistic{PublicProjectCount: 1, PublicRepoCount: 2}) {
		t.Errorf("robot statistics: %+v", robot)
	}
	e.expect(401, cred{}, "GET", Prefix+"/statistics", nil)
	// Every field is sent, zeros included (Harbor's x-omitempty: false).
	if body := e.expect(200, alice, "GET", Prefix+"/statistics", nil); !strings.Contains(body, `"total_storage_consumption":0`) {
		t.Errorf("zero fields omitted: %s", body)
	}
}

func TestVolumes(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	v := decode[systemVolumes](t, e.expect(200, e.admin, "GET", Prefix+"/systeminfo/volumes", nil))
	if len(v.Storage) != 1 || v.Storage[0].Total == 0 || v.Storage[0].Free > v.Storage[0].Total {
		t.Errorf("volumes: %+v", v)
	}
	e.expect(403, alice, "GET", Prefix+"/systeminfo/volumes", nil)
	e.expect(401, cred{}, "GET", Prefix+"/systeminfo/volumes", nil)
	// An object store has no size: Harbor's zeros, still one entry.
	e.api.opt.System.Blobs, e.api.opt.System.StorageProvider = nil, "s3"
	if body := e.expect(200, e.admin, "GET", Prefix+"/systeminfo/volumes", nil); body != `{"storage":[{"total":0,"free":0}]}`+"\n" {
		t.Errorf("volumes without a filesystem: %s", body)
	}
}

// writeCerts writes PEM files for a CA, a leaf it issued, and a
// self-signed leaf, and returns their paths: chain (leaf then CA), leaf
// alone, self-signed; and the CA's PEM.
func writeCerts(t *testing.T) (chain, leafOnly, selfSigned string, caPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(tmpl, parent *x509.Certificate) []byte {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "registry.test"}, DNSNames: []string{"registry.test"},
		NotBefore: now, NotAfter: now.Add(time.Hour)}
	self := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "self.test"}, NotBefore: now, NotAfter: now.Add(time.Hour)}
	caPEM = mk(ca, ca)
	leafPEM := mk(leaf, ca)
	dir := t.TempDir()
	write := func(name string, b ...[]byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, slices.Concat(b...), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("chain.pem", leafPEM, caPEM), write("leaf.pem", leafPEM), write("self.pem", mk(self, self)), caPEM
}

func TestGetCert(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	hasCA := func() bool {
		info := decode[generalInfo](t, e.expect(200, alice, "GET", Prefix+"/systeminfo", nil))
		return *info.HasCARoot
	}
	e.expect(404, cred{}, "GET", Prefix+"/systeminfo/getcert", nil) // plain HTTP
	if hasCA() {
		t.Error("has_ca_root without TLS")
	}
	chain, leafOnly, selfSigned, caPEM := writeCerts(t)
	e.api.opt.System.TLSCertFile = chain
	resp, body := e.req(cred{}, "GET", Prefix+"/systeminfo/getcert", nil)
	if resp.StatusCode != 200 || body != string(caPEM) || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		resp.Header.Get("Content-Disposition") != "attachment; filename=ca.crt" {
		t.Fatalf("getcert of a chain: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if !hasCA() {
		t.Error("has_ca_root false with a CA")
	}
	e.api.opt.System.TLSCertFile = selfSigned
	self, _ := os.ReadFile(selfSigned)
	if body := e.expect(200, alice, "GET", Prefix+"/systeminfo/getcert", nil); body != string(self) {
		t.Errorf("getcert of a self-signed certificate: %q", body)
	}
	e.api.opt.System.TLSCertFile = leafOnly // issued by a CA the file does not hold
	e.expect(404, alice, "GET", Prefix+"/systeminfo/getcert", nil)
	if hasCA() {
		t.Error("has_ca_root with a leaf alone")
	}
}

func TestSystemInfoFields(t *testing.T) {
	e := newSystemEnv(t)
	if _, err := e.api.opt.System.Settings.Update(e.ctx, map[string]json.RawMessage{"banner_message": json.RawMessage(`"{\"message\":\"hi\"}"`)}); err != nil {
		t.Fatal(err)
	}
	keys := func(c cred) []string {
		var m map[string]any
		if err := json.Unmarshal([]byte(e.expect(200, c, "GET", Prefix+"/systeminfo", nil)), &m); err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if got, want := keys(cred{}), []string{"auth_mode", "banner_message", "oidc_provider_name", "primary_auth_mode", "self_registration"}; !slices.Equal(got, want) {
		t.Errorf("anonymous systeminfo keys %q, want %q", got, want)
	}
	want := []string{"auth_mode", "banner_message", "current_time", "external_url", "harbor_version", "has_ca_root", "notification_enable",
		"oidc_provider_name", "primary_auth_mode", "project_creation_restriction", "read_only", "registry_storage_provider_name",
		"registry_url", "self_registration"}
	if got := keys(e.admin); !slices.Equal(got, want) {
		t.Errorf("signed-in systeminfo keys %q, want %q", got, want)
	}
	info := decode[generalInfo](t, e.expect(200, e.admin, "GET", Prefix+"/systeminfo", nil))
	if *info.HarborVersion != "v2.15.0-berth.test" || *info.BannerMessage != `{"message":"hi"}` || *info.RegistryStorageProviderName != "filesystem" ||
		*info.ProjectCreationRestriction != "everyone" || *info.ReadOnly || time.Since(time.Time(*info.CurrentTime)) > time.Minute {
		t.Errorf("systeminfo: %+v", info)
	}
}

func TestSearch(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	e.project("web-public", true, nil)
	e.project("web-mine", false, map[cred]int{alice: int(rbac.RoleGuest)})
	e.project("web-secret", false, nil)
	e.push("web-public/frontend", "v1")
	e.push("web-mine/Frontend", "v1")
	e.push("web-mine/frontend", "v1")
	e.push("web-mine/frontend", "v2")
	e.push("web-secret/frontend", "v1")
	e.push("web-public/db", "v1")
	type result struct {
		Project    []project          `json:"project"`
		Repository []searchRepository `json:"repository"`
	}
	search := func(c cred, q string) (projects, repos []string, r result) {
		t.Helper()
		r = decode[result](t, e.expect(200, c, "GET", Prefix+"/search?q="+q, nil))
		projects, repos = []string{}, []string{}
		for _, p := range r.Project {
			projects = append(projects, p.Name)
		}
		for _, h := range r.Repository {
			repos = append(repos, h.RepositoryName)
		}
		return projects, repos, r
	}
	check := func(c cred, q string, wantProjects, wantRepos []string) {
		t.Helper()
		if p, r, _ := search(c, q); !slices.Equal(p, wantProjects) || !slices.Equal(r, wantRepos) {
			t.Errorf("search %q as %q: projects %q repositories %q, want %q %q", q, c.user, p, r, wantProjects, wantRepos)
		}
	}
	check(e.admin, "FRONT", []string{}, []string{"web-mine/Frontend", "web-mine/frontend", "web-public/frontend", "web-secret/frontend"})
	check(alice, "front", []string{}, []string{"web-mine/Frontend", "web-mine/frontend", "web-public/frontend"})
	check(cred{}, "front", []string{}, []string{"web-public/frontend"})
	check(alice, "web", []string{"web-mine", "web-public"}, []string{"web-mine/Frontend", "web-mine/frontend", "web-public/db", "web-public/frontend"})
	check(cred{}, "secret", []string{}, []string{})
	check(e.admin, "secret", []string{"web-secret"}, []string{"web-secret/frontend"})

	_, _, r := search(alice, "mine/frontend")
	p, err := e.store.GetProjectByName(e.ctx, "web-mine")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Repository) != 2 || r.Repository[1] != (searchRepository{ProjectID: p.ID, ProjectName: "web-mine", RepositoryName: "web-mine/frontend", ArtifactCount: 2}) {
		t.Errorf("search hit: %+v", r.Repository)
	}
	_, _, r = search(alice, "web-mine")
	if len(r.Project) != 1 || r.Project[0].RepoCount != 2 || r.Project[0].CurrentUserRoleID != int(rbac.RoleGuest) {
		t.Errorf("search project: %+v", r.Project)
	}
	e.expect(400, alice, "GET", Prefix+"/search", nil)
	e.expect(400, alice, "GET", Prefix+"/search?q=", nil)

	// Bounded: at most searchLimit of each.
	for i := range searchLimit + 1 {
		if err := e.store.CommitBlob(e.ctx, fmt.Sprintf("web-public/many%03d", i), digest.FromString("x"), 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, repos, _ := search(cred{}, "many"); len(repos) != searchLimit || repos[0] != "web-public/many000" {
		t.Errorf("search many: %d repositories, first %v", len(repos), repos[:1])
	}
}

func TestIcons(t *testing.T) {
	e := newSystemEnv(t)
	for d, name := range builtInIcons {
		ic := decode[map[string]string](t, e.expect(200, cred{}, "GET", Prefix+"/icons/"+d, nil))
		svg, err := base64.StdEncoding.DecodeString(ic["content"])
		if err != nil || ic["content-type"] != "image/svg+xml" || !strings.HasPrefix(string(svg), "<svg ") {
			t.Errorf("icon %s (%s): %v %v", d, name, ic["content-type"], err)
		}
	}
	for typ, d := range typeIcons { // every artifact's icon is served
		if builtInIcons[d] == "" || iconOf(typ) != d {
			t.Errorf("type %s: icon %s is not served", typ, d)
		}
	}
	if builtInIcons[iconOf("SOMETHING")] != "default" {
		t.Errorf("other types' icon %s", iconOf("SOMETHING"))
	}
	for typ, d := range accessoryIcons {
		if builtInIcons[d] == "" {
			t.Errorf("accessory %s: icon %s is not served", typ, d)
		}
	}
	e.expect(404, cred{}, "GET", Prefix+"/icons/"+digest.FromString("no icon").String(), nil)
	e.expect(400, cred{}, "GET", Prefix+"/icons/sha256:abc", nil)
	e.expect(400, cred{}, "GET", Prefix+"/icons/nothing", nil)
}
