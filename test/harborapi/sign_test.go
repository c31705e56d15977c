package harborapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project_metadata"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// plain sends a request to berth as user (the signing-keys API is berth's
// own, not in Harbor's client) and returns the status, Location and body.
func plain(t *testing.T, user, password, method, path string, body any) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx(t), method, server(t).URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Transport: loopback}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), b
}

func cosignPublicKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestSignaturePolicyMetadata: Harbor's project metadata switches the
// signature policy on and off (Harbor's 412 on manifest GET, HEAD
// allowed), and berth's signing-keys API with its permissions. Real
// signatures are in test/e2e (TestSignaturePolicy).
func TestSignaturePolicyMetadata(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	yes := true
	repo := proj + "/app"
	pushImage(t, repo, "v1")
	manifest := "/v2/" + repo + "/manifests/v1"

	must(c.ProjectMetadata.AddProjectMetadatas(ctx(t), project_metadata.NewAddProjectMetadatasParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetadata(map[string]string{"enable_content_trust_cosign": "true"})))(t)
	const refused = `{"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"The image is not signed by cosign."}]}`
	// At once: the API re-reads the policies when it changes metadata.
	if st, _, b := plain(t, "admin", adminPassword, "GET", manifest, nil); st != http.StatusPreconditionFailed || strings.TrimSpace(string(b)) != refused {
		t.Fatalf("GET under the policy: %d %s, want 412 %s", st, b, refused)
	}
	if st, _, _ := plain(t, "admin", adminPassword, "HEAD", manifest, nil); st != http.StatusOK {
		t.Errorf("HEAD under the policy: %d, want 200", st)
	}

	// The keys: project admins manage them, members read them.
	keys := "/api/v2.0/projects/" + proj + "/signing-keys"
	pub := cosignPublicKey(t)
	st, loc, b := plain(t, "admin", adminPassword, "POST", keys, map[string]string{"name": "ci", "type": "cosign", "public_key": pub})
	if st != http.StatusCreated || !strings.HasPrefix(loc, keys+"/") {
		t.Fatalf("create key: %d %q %s", st, loc, b)
	}
	for _, bad := range []map[string]string{
		{"name": "ci", "type": "cosign", "public_key": cosignPublicKey(t)},  // 409: name taken
		{"name": "x", "type": "cosign", "public_key": "-----BEGIN nothing"}, // 400
		{"name": "y", "type": "notation", "certificate": pub},               // 400: not a certificate
		{"name": "z", "type": "gpg", "public_key": pub},                     // 400
	} {
		want := http.StatusBadRequest
		if bad["name"] == "ci" {
			want = http.StatusConflict
		}
		if st, _, b := plain(t, "admin", adminPassword, "POST", keys, bad); st != want {
			t.Errorf("create %v: %d %s, want %d", bad, st, b, want)
		}
	}
	st, _, b = plain(t, "admin", adminPassword, "GET", loc, nil)
	var one struct {
		Name, Type, Fingerprint string
		PublicKey               string `json:"public_key"`
	}
	if err := json.Unmarshal(b, &one); err != nil || st != http.StatusOK || one.Name != "ci" || one.Type != "cosign" ||
		one.PublicKey != pub || len(one.Fingerprint) != 64 {
		t.Fatalf("get key: %d %s", st, b)
	}

	dev := newUser(t, c)
	must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID(proj).WithXIsResourceName(&yes).
		WithProjectMember(&models.ProjectMember{RoleID: 2, MemberUser: &models.UserEntity{Username: dev.Username}})))(t)
	if st, _, b := plain(t, dev.Username, userPassword, "GET", keys, nil); st != http.StatusOK || !strings.Contains(string(b), `"ci"`) {
		t.Errorf("a developer lists the keys: %d %s", st, b)
	}
	if st, _, _ := plain(t, dev.Username, userPassword, "POST", keys, map[string]string{"name": "d", "type": "cosign", "public_key": pub}); st != http.StatusForbidden {
		t.Errorf("a developer adds a key: %d, want 403", st)
	}
	if st, _, _ := plain(t, dev.Username, userPassword, "DELETE", loc, nil); st != http.StatusForbidden {
		t.Errorf("a developer deletes a key: %d, want 403", st)
	}
	if st, _, b := plain(t, "admin", adminPassword, "DELETE", loc, nil); st != http.StatusOK {
		t.Errorf("delete key: %d %s", st, b)
	}
	if st, _, _ := plain(t, "admin", adminPassword, "GET", loc, nil); st != http.StatusNotFound {
		t.Errorf("deleted key: %d, want 404", st)
	}

	must(c.ProjectMetadata.UpdateProjectMetadata(ctx(t), project_metadata.NewUpdateProjectMetadataParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetaName("enable_content_trust_cosign").
		WithMetadata(map[string]string{"enable_content_trust_cosign": "false"})))(t)
	if st, _, b := plain(t, "admin", adminPassword, "GET", manifest, nil); st != http.StatusOK {
		t.Fatalf("GET with the policy off: %d %s", st, b)
	}
}
