package ui_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// TestAdminForms runs the administration forms and the project forms not
// covered elsewhere, checking each change in the store or on the page.
func TestAdminForms(t *testing.T) {
	e := newEnv(t)
	a := e.browser("admin")
	expectFlash := func(page, want string) {
		t.Helper()
		_, body := a.get(page)
		if !strings.Contains(body, want) {
			t.Fatalf("%s: no %q in %s", page, want, body[strings.Index(body, "<main"):])
		}
	}
	// Users: create, grant admin, reset password, delete.
	a.submit("/admin/users", "/admin/users", url.Values{"username": {"alice"}, "email": {"alice@example.org"},
		"realname": {"Alice"}, "password": {"Alice-pass-123"}})
	expectFlash("/admin/users", "User created.")
	u, err := e.store.GetUserByName(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	id := idString(u.ID)
	a.submit("/admin/users", "/admin/users/"+id, url.Values{"action": {"admin"}, "admin": {"true"}})
	if u, _ = e.store.GetUserByName(e.ctx, "alice"); !u.SysAdmin {
		t.Fatal("admin flag not set")
	}
	a.submit("/admin/users", "/admin/users/"+id, url.Values{"action": {"password"}, "password": {"Other-pass-456"}})
	expectFlash("/admin/users", "Password reset.")
	alice := e.browser("")
	if resp, _ := alice.post("/login", url.Values{"principal": {"alice"}, "password": {"Other-pass-456"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in with the reset password: %d", resp.StatusCode)
	}
	a.submit("/admin/users", "/admin/users/"+id, url.Values{"action": {"delete"}, "confirm": {"on"}})
	if _, err := e.store.GetUserByName(e.ctx, "alice"); err == nil {
		t.Fatal("user not deleted")
	}
	// System robot: the secret once.
	resp, body := a.submit("/admin/robots", "/admin/robots", url.Values{"name": {"sys"}, "days": {"-1"}, "perm": {"repository/pull"}})
	if resp.StatusCode != 200 || !strings.Contains(body, `id="robot-secret"`) {
		t.Fatalf("system robot: %d %s", resp.StatusCode, body)
	}
	if _, body := a.get("/admin/robots"); !strings.Contains(body, "robot$sys") {
		t.Fatal("system robot not listed")
	}
	// Configuration.
	a.submit("/admin/configuration", "/admin/configuration", url.Values{"project_creation_restriction": {"adminonly"}, "robot_token_duration": {"45"}})
	expectFlash("/admin/configuration", "Configuration saved.")
	if _, body := a.get("/admin/configuration"); !strings.Contains(body, `<option value="adminonly" selected>`) {
		t.Fatal("restriction not saved")
	}
	e.user("bob", false)
	if _, body := e.browser("bob").get("/projects"); strings.Contains(body, `id="create-project"`) {
		t.Error("the create form is shown to a user who may not create projects")
	}
	// Audit log and system info.
	if _, body := a.get("/admin/audit?user=admin"); !strings.Contains(body, "alice") {
		t.Error("audit log misses the user changes")
	}
	if resp, _ := a.get("/admin/system"); resp.StatusCode != 200 {
		t.Fatalf("system: %d", resp.StatusCode)
	}

	// The projects list shows each project's storage use and limit.
	a.submit("/projects", "/projects", url.Values{"name": {"q1"}, "storage_gib": {"2"}})
	if _, body := a.get("/projects?q=q1"); !strings.Contains(body, "<meter") || !strings.Contains(body, "/ 2.0 GiB") {
		t.Errorf("projects list without q1's quota: %s", body)
	}

	// Project forms: label, immutability rule, delete.
	e.project("p1", false, nil)
	a.submit("/projects/p1/labels", "/projects/p1/labels", url.Values{"name": {"prod"}, "color": {"#00ff00"}})
	expectFlash("/projects/p1/labels", "Label created.")
	a.submit("/projects/p1/immutability", "/projects/p1/immutability", url.Values{"repo": {"**"}, "tag": {"v*"}})
	_, body = a.get("/projects/p1/immutability")
	if !strings.Contains(body, "Rule created.") || !strings.Contains(body, "matches v*") {
		t.Fatalf("rule: %s", body[strings.Index(body, "<main"):])
	}
	a.submit("/projects/p1", "/projects/p1/visibility", url.Values{"public": {"true"}})
	if p, _ := e.store.GetProjectByName(e.ctx, "p1"); !p.Public {
		t.Fatal("project not made public")
	}
	if _, body := e.browser("").get("/projects/p1"); !strings.Contains(body, "Public") {
		t.Fatal("anonymous visitor cannot see the public project")
	}
	a.submit("/projects/p1", "/projects/p1/delete", url.Values{"confirm": {"on"}})
	if _, err := e.store.GetProjectByName(e.ctx, "p1"); err == nil {
		t.Fatal("project not deleted")
	}
	expectFlash("/projects", "Project deleted.")
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// TestArtifactLabels: a developer adds a project label to an artifact and
// removes it; a guest sees no label form.
func TestArtifactLabels(t *testing.T) {
	e, d := permEnv(t)
	p, err := e.store.GetProjectByName(e.ctx, "secret")
	if err != nil {
		t.Fatal(err)
	}
	l := &meta.Label{Name: "prod", Scope: "p", ProjectID: p.ID}
	if err := e.store.CreateLabel(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	art := "/projects/secret/repositories/app/artifacts/" + d
	if _, body := e.browser("guest").get(art); strings.Contains(body, `id="add-label"`) {
		t.Error("guest sees the label form")
	}
	dev := e.browser("dev")
	dev.submit(art, art+"/labels", url.Values{"label": {idString(l.ID)}})
	_, body := dev.get(art)
	if !strings.Contains(body, "Label added.") || !strings.Contains(body, `/labels/`+idString(l.ID)+`/delete`) {
		t.Fatalf("label not added: %s", body[strings.Index(body, "<main"):])
	}
	dev.submit(art, art+"/labels/"+idString(l.ID)+"/delete", url.Values{})
	if _, body := dev.get(art); !strings.Contains(body, "Label removed.") || strings.Contains(body, `/labels/`+idString(l.ID)+`/delete`) {
		t.Fatal("label not removed")
	}
}

// TestSecurityTab: the project's scanning and pull policies are saved as
// its metadata, every key set (ticked on, the others off).
func TestSecurityTab(t *testing.T) {
	e := newEnv(t)
	e.project("sec", false, nil)
	a := e.browser("admin")
	if resp, body := a.get("/projects/sec/security"); resp.StatusCode != 200 || !strings.Contains(body, `id="sec-prevent"`) {
		t.Fatalf("security tab: %d %s", resp.StatusCode, body)
	}
	a.submit("/projects/sec/security", "/projects/sec/security", url.Values{"auto_scan": {"on"}, "prevent_vul": {"on"}, "severity": {"High"}})
	p, err := e.store.GetProjectByName(e.ctx, "sec")
	if err != nil {
		t.Fatal(err)
	}
	settings, err := e.store.ProjectSettings(e.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	md := settings[p.ID].Metadata
	if md["auto_scan"] != "true" || md["prevent_vul"] != "true" || md["severity"] != "high" || md["enable_content_trust"] != "false" {
		t.Fatalf("metadata after saving: %v", md)
	}
	if _, body := a.get("/projects/sec/security"); !strings.Contains(body, `id="sec-auto-scan" name="auto_scan" type="checkbox" checked`) ||
		!strings.Contains(body, `<option value="High" selected>`) {
		t.Fatal("saved policies not shown")
	}
	// The SBOM format: CycloneDX until SPDX is chosen; a forged value is
	// refused.
	if _, body := a.get("/projects/sec/security"); strings.Contains(body, `<option value="spdx" selected>`) {
		t.Fatal("SPDX shown chosen before it was")
	}
	a.submit("/projects/sec/security", "/projects/sec/security", url.Values{"auto_sbom_generation": {"on"}, "sbom_format": {"spdx"}, "severity": {"High"}})
	if settings, err = e.store.ProjectSettings(e.ctx, p.ID); err != nil || settings[p.ID].Metadata["sbom_format"] != "spdx" ||
		settings[p.ID].Metadata["auto_sbom_generation"] != "true" {
		t.Fatalf("sbom_format after saving: %v %v", settings[p.ID].Metadata, err)
	}
	if _, body := a.get("/projects/sec/security"); !strings.Contains(body, `<option value="spdx" selected>SPDX</option>`) {
		t.Fatal("the saved SBOM format is not shown")
	}
	a.submit("/projects/sec/security", "/projects/sec/security", url.Values{"sbom_format": {"swid"}, "severity": {"High"}})
	if settings, _ = e.store.ProjectSettings(e.ctx, p.ID); settings[p.ID].Metadata["sbom_format"] != "spdx" {
		t.Fatalf("a forged format was stored: %v", settings[p.ID].Metadata)
	}
	// A trusted cosign key: added, listed, deleted.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	a.submit("/projects/sec/security", "/projects/sec/security/keys", url.Values{"name": {"release"}, "type": {"cosign"}, "pem": {pemKey}})
	_, body := a.get("/projects/sec/security")
	if !strings.Contains(body, "Signing key added.") || !strings.Contains(body, "<td>release</td><td>cosign</td>") {
		t.Fatalf("key not added: %s", body)
	}
	keys, _, err := e.store.SigningKeys(e.ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	a.submit("/projects/sec/security", fmt.Sprintf("/projects/sec/security/keys/%d/delete", keys[0].ID), url.Values{})
	if _, body := a.get("/projects/sec/security"); !strings.Contains(body, "Signing key deleted.") || strings.Contains(body, "<td>release</td>") {
		t.Fatal("key not deleted")
	}
}
