package sign

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pullstats"
)

func TestCheckKey(t *testing.T) {
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec := ecKey(t)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	_, _, certPEM := codeSigningCert(t, "ok")
	for _, tc := range []struct {
		name, typ, pem string
		ok             bool
	}{
		{"ecdsa", meta.SigningKeyCosign, pubPEM(t, &ec.PublicKey), true},
		{"ed25519", meta.SigningKeyCosign, pubPEM(t, ed), true},
		{"rsa 2048", meta.SigningKeyCosign, pubPEM(t, &rsa2048.PublicKey), true},
		{"rsa 1024", meta.SigningKeyCosign, pubPEM(t, &rsa1024.PublicKey), false},
		{"private key", meta.SigningKeyCosign, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), false},
		{"two keys", meta.SigningKeyCosign, pubPEM(t, ed) + pubPEM(t, ed), false},
		{"garbage", meta.SigningKeyCosign, "not a key", false},
		{"certificate as cosign key", meta.SigningKeyCosign, certPEM, false},
		{"certificate", meta.SigningKeyNotation, certPEM, true},
		{"chain", meta.SigningKeyNotation, certPEM + certPEM, true},
		{"public key as certificate", meta.SigningKeyNotation, pubPEM(t, ed), false},
		{"empty certificate", meta.SigningKeyNotation, "", false},
		{"unknown type", "x509", certPEM, false},
	} {
		err := CheckKey(tc.typ, tc.pem)
		var ik *InvalidKeyError
		if tc.ok && err != nil || !tc.ok && !errors.As(err, &ik) {
			t.Errorf("%s: CheckKey = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCosignPolicy(t *testing.T) {
	e := newEnv(t)
	p := e.project("p", map[string]string{"enable_content_trust_cosign": "true"})
	const repo = "p/app"
	img := e.image(repo, "v1")

	e.refused(repo, img, msgNotCosign)
	if n := len(e.audits); n != 1 || e.audits[0].Success || !strings.Contains(e.audits[0].Resource, RuleCosign) {
		t.Fatalf("audit of the refusal: %+v", e.audits)
	}
	// berth's own jobs are not refused.
	if err := e.c.CheckPull(events.WithInternal(t.Context()), Pull{Repo: repo, Manifest: img}); err != nil {
		t.Fatalf("internal pull refused: %v", err)
	}
	if err := e.c.CheckPull(pullstats.Uncounted(t.Context()), Pull{Repo: repo, Manifest: img}); err != nil {
		t.Fatalf("uncounted pull refused: %v", err)
	}
	// A signing client with push permission reads it, and is audited.
	if err := e.c.CheckPull(t.Context(), Pull{Repo: repo, Manifest: img, Signer: func() bool { return true }}); err != nil {
		t.Fatalf("signer refused: %v", err)
	}
	if last := e.audits[len(e.audits)-1]; !last.Success || !strings.Contains(last.Resource, "signing client") {
		t.Fatalf("audit of the signer bypass: %+v", last)
	}

	key := ecKey(t)
	sig := e.cosignSign(repo, key, img.Digest, img.Digest)
	e.allowed(repo, img) // no keys: a signature's existence is enough (Harbor)
	e.allowed(repo, sig) // the signature itself may be read
	// and so may an attestation (DSSE layers), which is not signed itself.
	att := e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": e.config(repo, "application/vnd.oci.image.config.v1+json"),
		"layers": []any{with(e.blob(repo, []byte(`{"payloadType":"application/vnd.in-toto+json"}`)), "mediaType", mediaTypeDSSE)}},
		"sha256-"+img.Digest.Encoded()+".att")
	e.allowed(repo, att)

	e.addKey(p.ID, "ci", meta.SigningKeyCosign, pubPEM(t, &key.PublicKey))
	before := e.blobs.opens.Load()
	e.allowed(repo, img)
	if e.blobs.opens.Load() == before {
		t.Fatal("the signature was not read to verify it")
	}
	before = e.blobs.opens.Load()
	for range 10 {
		e.allowed(repo, img)
	}
	if n := e.blobs.opens.Load() - before; n != 0 {
		t.Fatalf("repeated pulls read %d signature blobs, want 0 (cached verdict)", n)
	}

	// A signature copied onto another artifact names the first digest:
	// refused.
	other := e.image(repo, "v2")
	e.cosignSign(repo, key, img.Digest, other.Digest)
	e.refused(repo, other, msgNotCosign)

	// Another key only: refused; the right one again: allowed.
	otherKey := ecKey(t)
	wrong := e.addKey(p.ID, "wrong", meta.SigningKeyCosign, pubPEM(t, &otherKey.PublicKey))
	keys, _, err := e.c.Keys(t.Context(), p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	e.must(err)
	e.must(e.c.DeleteKey(t.Context(), p.ID, keys[0].ID))
	e.refused(repo, img, msgNotCosign)
	e.must(e.c.DeleteKey(t.Context(), p.ID, wrong.ID))
	e.allowed(repo, img) // no keys again

	// A classic signature stored as a referrer.
	ref := e.image(repo, "referrer")
	e.addKey(p.ID, "ec", meta.SigningKeyCosign, pubPEM(t, &key.PublicKey))
	e.refused(repo, ref, msgNotCosign)
	e.cosignReferrer(repo, key, ref)
	e.allowed(repo, ref)
	e.cosignReferrer(repo, otherKey, img) // a referrer by an unregistered key does not help
	ks, _, err := e.c.Keys(t.Context(), p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	e.must(err)
	e.must(e.c.DeleteKey(t.Context(), p.ID, ks[0].ID))
	e.addKey(p.ID, "other", meta.SigningKeyCosign, pubPEM(t, &otherKey.PublicKey))
	e.allowed(repo, img)
	e.refused(repo, ref, msgNotCosign)
	ks, _, err = e.c.Keys(t.Context(), p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	e.must(err)
	e.must(e.c.DeleteKey(t.Context(), p.ID, ks[0].ID))

	// Sigstore bundle with an Ed25519 key.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	e.addKey(p.ID, "ed", meta.SigningKeyCosign, pubPEM(t, pub))
	b := e.image(repo, "bundle")
	e.refused(repo, b, msgNotCosign)
	e.bundleSign(repo, priv, b)
	e.allowed(repo, b)
	e.refused(repo, img, msgNotCosign) // signed with the ECDSA key, no longer registered
}

func TestIndexSignatureCoversChildren(t *testing.T) {
	e := newEnv(t)
	p := e.project("p", map[string]string{"enable_content_trust_cosign": "true"})
	const repo = "p/multi"
	amd, arm := e.image(repo), e.image(repo)
	idx := e.index(repo, amd, arm)
	key := ecKey(t)
	e.addKey(p.ID, "ci", meta.SigningKeyCosign, pubPEM(t, &key.PublicKey))
	e.refused(repo, arm, msgNotCosign)
	e.cosignSign(repo, key, idx.Digest, idx.Digest)
	e.allowed(repo, idx)
	e.allowed(repo, arm)
	e.allowed(repo, amd)
	// Not in another repository that holds the same child.
	alone := e.image("p/alone")
	e.refused("p/alone", alone, msgNotCosign)
}

func TestNotationPolicy(t *testing.T) {
	e := newEnv(t)
	p := e.project("n", map[string]string{"enable_content_trust": "true"})
	const repo = "n/app"
	jws, cose := e.image(repo), e.image(repo)
	e.refused(repo, jws, msgNotNotation)
	cert, key, certPEM := codeSigningCert(t, "signer")
	e.notationSign(repo, MediaTypeJWS, []*x509.Certificate{cert}, key, jws)
	e.notationSign(repo, MediaTypeCOSE, []*x509.Certificate{cert}, key, cose)
	e.allowed(repo, jws)
	e.allowed(repo, cose)

	_, _, otherPEM := codeSigningCert(t, "other")
	other := e.addKey(p.ID, "other", meta.SigningKeyNotation, otherPEM)
	e.refused(repo, jws, msgNotNotation)
	e.refused(repo, cose, msgNotNotation)
	e.addKey(p.ID, "signer", meta.SigningKeyNotation, certPEM)
	e.allowed(repo, jws)
	e.allowed(repo, cose)
	e.must(e.c.DeleteKey(t.Context(), p.ID, other.ID))

	// A cosign signature does not satisfy the notation policy.
	img := e.image(repo)
	e.cosignSign(repo, ecKey(t), img.Digest, img.Digest)
	e.refused(repo, img, msgNotNotation)
}

// TestUnguardedPullIsFree: a pull from a project without a policy does no
// query (the store is closed) and allocates nothing.
func TestUnguardedPullIsFree(t *testing.T) {
	e := newEnv(t)
	e.project("guarded", map[string]string{"enable_content_trust_cosign": "true"})
	e.project("free", nil)
	img := e.image("free/app")
	full, err := e.meta.GetManifest(t.Context(), "free/app", string(img.Digest), true)
	e.must(err)
	e.meta.Close()
	ctx := t.Context()
	pull := Pull{Repo: "free/app", Manifest: full}
	if n := testing.AllocsPerRun(100, func() {
		if e.c.Guards("free/app") || e.c.CheckPull(ctx, pull) != nil {
			t.Fatal("unguarded project checked")
		}
	}); n != 0 {
		t.Fatalf("an unguarded pull allocates %v times", n)
	}
	if !e.c.Guards("guarded/app") {
		t.Fatal("guarded project not guarded")
	}
}

// BenchmarkCheckPull: what the policy adds to a manifest GET, for a project
// without a policy, and for a guarded artifact whose verdict is cached
// (the accessories listing, no cryptography).
func BenchmarkCheckPull(b *testing.B) {
	e := newEnv(b)
	p := e.project("p", map[string]string{"enable_content_trust_cosign": "true"})
	e.project("free", nil)
	key := ecKey(b)
	e.addKey(p.ID, "ci", meta.SigningKeyCosign, pubPEM(b, &key.PublicKey))
	img := e.image("p/app")
	e.cosignSign("p/app", key, img.Digest, img.Digest)
	free := e.image("free/app")
	for _, bc := range []struct {
		name string
		repo string
		m    *meta.Manifest
	}{{"unguarded", "free/app", free}, {"guarded-cached", "p/app", img}} {
		full, err := e.meta.GetManifest(b.Context(), bc.repo, string(bc.m.Digest), true)
		e.must(err)
		pull := Pull{Repo: bc.repo, Manifest: full}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := e.c.CheckPull(b.Context(), pull); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
