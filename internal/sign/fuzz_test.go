package sign

import (
	"crypto"
	"crypto/x509"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// FuzzCheckKey: uploaded PEM never panics the parsers.
func FuzzCheckKey(f *testing.F) {
	f.Add(meta.SigningKeyCosign, "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n")
	f.Add(meta.SigningKeyNotation, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	f.Fuzz(func(t *testing.T, typ, pem string) {
		_ = CheckKey(typ, pem)
		_ = Fingerprint(&meta.SigningKey{Type: typ, PEM: pem})
	})
}

// FuzzSignatures: signature payloads, bundles and envelopes read from the
// blob store never panic the verifiers, and never verify without a key.
func FuzzSignatures(f *testing.F) {
	d := digest.FromString("x")
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+string(d)+`"},"type":"cosign container image signature"}}`), "c2ln")
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`), "")
	f.Add([]byte(`{"payload":"e30","protected":"e30","header":{},"signature":"AA"}`), "")
	root, _, _ := codeSigningCert(f, "root")
	roots := []*x509.Certificate{root}
	f.Fuzz(func(t *testing.T, b []byte, sig string) {
		now := time.Now()
		if verifyCosignPayload(nil, b, sig, d) == nil || verifyBundle([]crypto.PublicKey{}, b, d) == nil {
			t.Fatal("verified without keys")
		}
		if verifyNotation(roots, MediaTypeJWS, b, d, 1, now) == nil || verifyNotation(roots, MediaTypeCOSE, b, d, 1, now) == nil {
			t.Fatal("an envelope not signed under the root verified")
		}
	})
}
