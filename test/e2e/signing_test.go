package e2e

import (
	"strings"
	"testing"
	"time"
)

// pushHello pushes the amd64 and arm64 test images with crane (the
// signing clients sign "an image pushed by another client") and returns
// repo@digest of each.
func pushHello(t *testing.T, srv *reg, path string) (amdRef, armRef string) {
	t.Helper()
	crane := needClient(t, "crane", "crane")
	srv.use(crane)
	amd, arm, amdDir, armDir := crane.layouts()
	crane.run("push", "--insecure", amdDir, srv.ref(path)+":amd64")
	crane.run("push", "--insecure", armDir, srv.ref(path)+":arm64")
	return srv.ref(path) + "@" + amd.digest().String(), srv.ref(path) + "@" + arm.digest().String()
}

// digestOf is the digest part of repo@digest.
func digestOf(ref string) string { return ref[strings.LastIndex(ref, "@")+1:] }

// sawRequest reports whether berth logged a method request whose path
// contains part after the first n log entries.
func sawRequest(srv *reg, n int, method, part string) bool {
	for _, e := range requests(srv)[n:] {
		if e.Method == method && strings.Contains(e.Path, part) {
			return true
		}
	}
	return false
}

// referrersAPIOnly checks that, since the first n log entries, the client
// listed referrers through the referrers API and wrote no tag-schema index
// (berth answers a manifest PUT with a subject with OCI-Subject).
func referrersAPIOnly(t *testing.T, srv *reg, n int) {
	t.Helper()
	if !sawRequest(srv, n, "GET", "/referrers/") {
		t.Error("the client did not use the referrers API")
	}
	if sawRequest(srv, n, "PUT", "/manifests/sha256-") {
		t.Error("the client wrote a referrers tag-schema index although berth serves the referrers API")
	}
}

// TestCosign signs offline with a cosign key pair: the tag scheme
// (sha256-<hex>.sig/.att) for one image and the OCI 1.1 referrers mode for
// another; verify, attest, verify-attestation and tree for each.
func TestCosign(t *testing.T) { bothModes(t, testCosign) }

func testCosign(t *testing.T, m mode) {
	c := needClient(t, "cosign", "cosign")
	srv := registry(t, m)
	amdRef, armRef := pushHello(t, srv, "cosign/hello")
	c.env = append(c.env, "COSIGN_PASSWORD=", "TUF_ROOT="+c.home+"/.sigstore")
	srv.use(c)
	cosign := func(c *client, args ...string) string {
		return c.run(append(args, "--allow-insecure-registry", "--allow-http-registry")...)
	}
	tagOf := func(ref, suffix string) string { return strings.Replace(digestOf(ref), ":", "-", 1) + suffix }
	predicate := c.write("predicate.json", []byte(`{"builder":"berth-e2e"}`))

	c.step("generate key pair", func(c *client) {
		c.run("generate-key-pair")
		c.write("other/.keep", nil)
	})
	c.step("sign (tag scheme)", func(c *client) {
		cosign(c, "sign", "--key", "cosign.key", "--tlog-upload=false", "-y", amdRef)
		_, body := manifestOf(c.t, srv, srv.repo("cosign/hello"), tagOf(amdRef, ".sig"))
		mustContain(c.t, string(body), "dev.cosignproject.cosign/signature")
	})
	c.step("verify (tag scheme)", func(c *client) {
		mustContain(c.t, cosign(c, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog", amdRef), digestOf(amdRef))
	})
	c.step("attest and verify-attestation (tag scheme)", func(c *client) {
		cosign(c, "attest", "--key", "cosign.key", "--type", "custom", "--predicate", predicate, "--tlog-upload=false", "-y", amdRef)
		manifestOf(c.t, srv, srv.repo("cosign/hello"), tagOf(amdRef, ".att"))
		cosign(c, "verify-attestation", "--key", "cosign.pub", "--type", "custom", "--insecure-ignore-tlog", amdRef)
	})
	c.step("tree (tag scheme)", func(c *client) {
		mustContain(c.t, cosign(c, "tree", amdRef), "Signatures for an image tag", "Attestations for an image tag")
	})
	c.step("sign (OCI 1.1 referrers)", func(c *client) {
		before := len(requests(srv))
		// cosign 2.x writes only signatures (not attestations) as referrers, behind COSIGN_EXPERIMENTAL.
		args := []string{"sign", "--key", "cosign.key", "--tlog-upload=false", "-y", "--registry-referrers-mode=oci-1-1",
			armRef, "--allow-insecure-registry", "--allow-http-registry"}
		if out, err := c.runErr(cmdTimeout, []string{"COSIGN_EXPERIMENTAL=1"}, args...); err != nil {
			c.t.Fatalf("cosign sign: %v\n%s", err, out)
		}
		if sawRequest(srv, before, "PUT", "/manifests/sha256-") {
			c.t.Fatal("cosign tagged its signature although it was asked for the referrers mode")
		}
	})
	c.step("verify and tree (OCI 1.1 referrers)", func(c *client) {
		before := len(requests(srv))
		cosign(c, "verify", "--experimental-oci11", "--key", "cosign.pub", "--insecure-ignore-tlog", armRef)
		mustContain(c.t, cosign(c, "tree", "--experimental-oci11", armRef), "application/vnd.dev.cosign.artifact.sig.v1+json")
		referrersAPIOnly(c.t, srv, before)
	})
	c.step("verify fails with another key", func(c *client) {
		c.home += "/other"
		c.run("generate-key-pair")
		c.fails("verify", "--key", "cosign.pub", "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", amdRef)
	})
}

// notationPolicy trusts the test certificate "e2e" for every repository.
const notationPolicy = `{"version":"1.0","trustPolicies":[{"name":"e2e","registryScopes":["*"],
"signatureVerification":{"level":"strict"},"trustStores":["ca:e2e"],"trustedIdentities":["*"]}]}`

// TestNotation signs with notation and a local test certificate, in the
// referrers tag schema (notation's default) and through the referrers API,
// then verifies against a trust policy and lists the signatures.
func TestNotation(t *testing.T) { bothModes(t, testNotation) }

func testNotation(t *testing.T, m mode) {
	c := needClient(t, "notation", "notation")
	srv := registry(t, m)
	srv.use(c)
	amdRef, armRef := pushHello(t, srv, "notation/hello")
	notation := func(c *client, args ...string) string { return c.run(append(args, "--insecure-registry")...) }

	c.step("test certificate and trust policy", func(c *client) {
		c.run("cert", "generate-test", "--default", "e2e")
		c.run("policy", "import", "--force", c.write("policy.json", []byte(notationPolicy)))
		mustContain(c.t, c.run("cert", "ls"), "e2e")
	})
	c.step("sign (referrers tag schema)", func(c *client) {
		notation(c, "sign", amdRef)
		_, index := manifestOf(c.t, srv, srv.repo("notation/hello"), "sha256-"+strings.TrimPrefix(digestOf(amdRef), "sha256:"))
		mustContain(c.t, string(index), "application/vnd.cncf.notary.signature")
	})
	c.step("sign (referrers API)", func(c *client) {
		before := len(requests(srv))
		notation(c, "sign", "--force-referrers-tag=false", "--signature-format", "cose", armRef)
		// berth answers the signature's PUT with OCI-Subject, so no tag-schema index is written.
		if sawRequest(srv, before, "PUT", "/manifests/sha256-") {
			c.t.Fatal("notation wrote a referrers tag-schema index although berth supports the referrers API")
		}
	})
	c.step("verify against the trust policy", func(c *client) {
		mustContain(c.t, notation(c, "verify", amdRef), "Successfully verified")
		mustContain(c.t, notation(c, "verify", armRef), "Successfully verified")
	})
	c.step("ls", func(c *client) {
		mustContain(c.t, notation(c, "ls", amdRef), "application/vnd.cncf.notary.signature")
		mustContain(c.t, notation(c, "ls", armRef), "application/vnd.cncf.notary.signature")
	})
	c.step("verify fails for an unsigned image", func(c *client) {
		crane := needClient(c.t, "crane", "crane")
		srv.use(crane)
		crane.run("copy", "--insecure", amdRef, srv.ref("notation/unsigned")+":v1") // copies no signatures
		out, err := c.runErr(time.Minute, nil, "verify", "--insecure-registry", srv.ref("notation/unsigned")+"@"+digestOf(amdRef))
		if err == nil {
			c.t.Fatalf("notation verify of an unsigned image succeeded:\n%s", out)
		}
		mustContain(c.t, out, "no signature") // not an authentication failure
	})
}
