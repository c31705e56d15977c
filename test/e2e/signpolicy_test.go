package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// The signature policies (internal/sign) with real cosign and notation:
// images signed by the real clients, keys registered through berth's
// signing-keys API, pulls by crane (a client that is not a signer).

// api sends a management API request as the administrator and returns the
// status and body.
func (r *reg) api(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.URL+"/api/v2.0"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := r.do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// setPolicy sets one signature policy metadata key of the project.
func (r *reg) setPolicy(t *testing.T, key, value string) {
	t.Helper()
	if st, b := r.api(t, "PUT", "/projects/"+r.project, map[string]any{"metadata": map[string]string{key: value}}); st != http.StatusOK {
		t.Fatalf("setting %s=%s: %d %s", key, value, st, b)
	}
}

// addKey registers trust material of the project and returns its id.
func (r *reg) addKey(t *testing.T, name, typ, pemFile string) int64 {
	t.Helper()
	pem, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	field := map[string]string{"cosign": "public_key", "notation": "certificate"}[typ]
	st, b := r.api(t, "POST", "/projects/"+r.project+"/signing-keys", map[string]string{"name": name, "type": typ, field: string(pem)})
	if st != http.StatusCreated {
		t.Fatalf("adding key %s: %d %s", name, st, b)
	}
	_, b = r.api(t, "GET", "/projects/"+r.project+"/signing-keys?q=name%3D"+name, nil)
	var keys []struct{ ID int64 }
	if err := json.Unmarshal(b, &keys); err != nil || len(keys) != 1 {
		t.Fatalf("listing key %s: %v %s", name, err, b)
	}
	return keys[0].ID
}

func (r *reg) deleteKey(t *testing.T, id int64) {
	t.Helper()
	if st, b := r.api(t, "DELETE", fmt.Sprintf("/projects/%s/signing-keys/%d", r.project, id), nil); st != http.StatusOK {
		t.Fatalf("deleting key %d: %d %s", id, st, b)
	}
}

// manifestStatus GETs (or HEADs) a manifest as the administrator and
// returns the status and body.
func (r *reg) manifestStatus(t *testing.T, method, repo, ref string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, r.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
	res, err := r.do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Harbor's refusals, exactly.
const (
	refusedCosign   = `{"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"The image is not signed by cosign."}]}`
	refusedNotation = `{"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"The image is not signed by notation."}]}`
)

// waitRefused waits (the policies are re-read every second) until a GET of
// repo@ref is refused with body, or allowed when body is "".
func (r *reg) waitPolicy(t *testing.T, repo, ref, body string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, got := r.manifestStatus(t, "GET", repo, ref)
		if body == "" && st == http.StatusOK || body != "" && st == http.StatusPreconditionFailed && strings.TrimSpace(got) == body {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s@%s: %d %s, want %q", repo, ref, st, got, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pullAllowed and pullRefused pull with crane, which is not a signing
// client (no bypass).
func pullAllowed(c *client, ref string) {
	c.t.Helper()
	c.run("manifest", "--insecure", ref)
}

func pullRefused(c *client, ref, message string) {
	c.t.Helper()
	out, err := c.runErr(time.Minute, nil, "manifest", "--insecure", ref)
	if err == nil {
		c.t.Fatalf("crane manifest %s succeeded, want the policy to refuse it:\n%s", ref, out)
	}
	mustContain(c.t, out, message)
}

// TestSignaturePolicy: enable_content_trust_cosign and enable_content_trust
// with real signatures, with access control on.
func TestSignaturePolicy(t *testing.T) {
	cosign := needClient(t, "cosign", "cosign")
	notation := needClient(t, "notation", "notation")
	srv := registry(t, mode{auth: true})
	amdRef, armRef := pushHello(t, srv, "policy/hello")
	crane := needClient(t, "crane", "crane")
	srv.use(crane)
	repo := srv.repo("policy/hello")
	amd := digestOf(amdRef)
	crane.run("index", "append", "--insecure", "-m", amdRef, "-m", armRef, "-t", srv.ref("policy/hello")+":multi")
	_, index := manifestOf(t, srv, repo, "multi")
	indexRef := srv.ref("policy/hello") + "@" + digest.FromBytes(index).String()

	cosign.env = append(cosign.env, "COSIGN_PASSWORD=", "TUF_ROOT="+cosign.home+"/.sigstore")
	srv.use(cosign)
	sign := func(c *client, ref string, extra ...string) {
		c.run(append(append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false", "-y"}, extra...),
			ref, "--allow-insecure-registry", "--allow-http-registry")...)
	}

	cosign.step("unsigned image refused, HEAD allowed", func(c *client) {
		srv.setPolicy(c.t, "enable_content_trust_cosign", "true")
		srv.waitPolicy(c.t, repo, amd, refusedCosign)
		if st, _ := srv.manifestStatus(c.t, "HEAD", repo, amd); st != http.StatusOK {
			c.t.Fatalf("HEAD of an unsigned manifest: %d, want 200 (only GET is checked)", st)
		}
		pullRefused(crane, amdRef, "The image is not signed by cosign.")
		pullRefused(crane, srv.ref("policy/hello")+":amd64", "The image is not signed by cosign.")
	})
	cosign.step("sign under the policy (signer bypass), any signature passes without keys", func(c *client) {
		c.run("generate-key-pair")
		sign(c, amdRef)
		pullAllowed(crane, amdRef)
		pullAllowed(crane, srv.ref("policy/hello")+":amd64")
		c.run("verify", "--key", "cosign.pub", "--insecure-ignore-tlog", amdRef, "--allow-insecure-registry", "--allow-http-registry")
	})
	var good int64
	cosign.step("project key registered: verified signature passes", func(c *client) {
		good = srv.addKey(c.t, "ci", "cosign", filepath.Join(c.home, "cosign.pub"))
		pullAllowed(crane, amdRef)
		pullRefused(crane, armRef, "The image is not signed by cosign.")
	})
	cosign.step("verify and verify-attestation as a guest (no signer bypass)", func(c *client) {
		c.run("attest", "--key", "cosign.key", "--type", "custom", "--predicate", c.write("predicate.json", []byte(`{"by":"e2e"}`)),
			"--tlog-upload=false", "-y", amdRef, "--allow-insecure-registry", "--allow-http-registry")
		srv.as(c, guest)
		defer srv.as(c, developer)
		c.run("verify", "--key", "cosign.pub", "--insecure-ignore-tlog", amdRef, "--allow-insecure-registry", "--allow-http-registry")
		c.run("verify-attestation", "--key", "cosign.pub", "--type", "custom", "--insecure-ignore-tlog", amdRef,
			"--allow-insecure-registry", "--allow-http-registry")
		if _, err := c.runErr(time.Minute, nil, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog", armRef,
			"--allow-insecure-registry", "--allow-http-registry"); err == nil {
			c.t.Fatal("cosign verify of an unsigned image succeeded")
		}
	})
	cosign.step("only another key registered: refused", func(c *client) {
		other := filepath.Join(c.home, "other")
		if err := os.MkdirAll(other, 0o755); err != nil {
			c.t.Fatal(err)
		}
		c.run("generate-key-pair", "--output-key-prefix", "other/cosign")
		bad := srv.addKey(c.t, "other", "cosign", filepath.Join(c.home, "other", "cosign.pub"))
		srv.deleteKey(c.t, good)
		srv.waitPolicy(c.t, repo, amd, refusedCosign)
		pullRefused(crane, amdRef, "The image is not signed by cosign.")
		srv.deleteKey(c.t, bad)
		good = srv.addKey(c.t, "ci", "cosign", filepath.Join(c.home, "cosign.pub"))
		pullAllowed(crane, amdRef)
	})
	cosign.step("signed index covers its children pulled by digest", func(c *client) {
		pullRefused(crane, armRef, "The image is not signed by cosign.")
		sign(c, indexRef)
		pullAllowed(crane, indexRef)
		pullAllowed(crane, armRef)
	})
	cosign.step("sigstore bundle (referrers) verified", func(c *client) {
		crane.run("copy", "--insecure", amdRef, srv.ref("policy/bundle")+":v1")
		bundleRef := srv.ref("policy/bundle") + "@" + amd
		pullRefused(crane, bundleRef, "The image is not signed by cosign.")
		sign(c, bundleRef, "--new-bundle-format")
		pullAllowed(crane, bundleRef)
	})
	cosign.step("refusals are audited with their rule", func(c *client) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, b := srv.api(c.t, "GET", "/audit-logs?page_size=100&q=operation%3Dpull", nil)
			if strings.Contains(string(b), "enable_content_trust_cosign") {
				return
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("no audit record of a refused pull naming its rule:\n%s", b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	srv.use(notation)
	notationCmd := func(c *client, args ...string) string { return c.run(append(args, "--insecure-registry")...) }
	notation.step("notation policy: unsigned refused", func(c *client) {
		srv.setPolicy(c.t, "enable_content_trust_cosign", "false")
		srv.setPolicy(c.t, "enable_content_trust", "true")
		srv.waitPolicy(c.t, repo, amd, refusedNotation)
		pullRefused(crane, amdRef, "The image is not signed by notation.")
	})
	notation.step("JWS and COSE signatures pass without certificates", func(c *client) {
		c.run("cert", "generate-test", "--default", "e2e")
		notationCmd(c, "sign", "--force-referrers-tag=false", amdRef)
		notationCmd(c, "sign", "--force-referrers-tag=false", "--signature-format", "cose", armRef)
		pullAllowed(crane, amdRef)
		pullAllowed(crane, armRef)
	})
	notation.step("certificate registered: both verify", func(c *client) {
		srv.addKey(c.t, "e2e-root", "notation", filepath.Join(c.home, ".config", "notation", "localkeys", "e2e.crt"))
		pullAllowed(crane, amdRef)
		pullAllowed(crane, armRef)
		pullRefused(crane, indexRef, "The image is not signed by notation.")
	})
	notation.step("only another certificate registered: refused", func(c *client) {
		c.run("cert", "generate-test", "other")
		_, b := srv.api(c.t, "GET", "/projects/"+srv.project+"/signing-keys?q=type%3Dnotation", nil)
		var keys []struct{ ID int64 }
		if err := json.Unmarshal(b, &keys); err != nil || len(keys) != 1 {
			c.t.Fatalf("notation keys: %v %s", err, b)
		}
		srv.addKey(c.t, "other-root", "notation", filepath.Join(c.home, ".config", "notation", "localkeys", "other.crt"))
		srv.deleteKey(c.t, keys[0].ID)
		srv.waitPolicy(c.t, repo, amd, refusedNotation)
		pullRefused(crane, armRef, "The image is not signed by notation.")
	})
	notation.step("signatures listed as Harbor's accessories", func(c *client) {
		accessories := func(path, d string) string {
			st, b := srv.api(c.t, "GET", "/projects/"+srv.project+"/repositories/"+url.PathEscape(url.PathEscape(path))+
				"/artifacts/"+d+"/accessories", nil)
			if st != http.StatusOK {
				c.t.Fatalf("accessories of %s@%s: %d %s", path, d, st, b)
			}
			return string(b)
		}
		mustContain(c.t, accessories("policy/hello", amd), `"type":"signature.cosign"`, `"type":"signature.notation"`)
		mustContain(c.t, accessories("policy/bundle", amd), `"type":"signature.cosign"`) // the sigstore bundle
	})
}
