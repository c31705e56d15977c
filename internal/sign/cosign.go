package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/opencontainers/go-digest"
)

// Media types and annotations of cosign signatures (sigstore/cosign
// specs/SIGNATURE_SPEC.md and BUNDLE_SPEC.md).
const (
	// MediaTypeSimpleSigning is the layer of a classic cosign signature:
	// its blob is the signed payload.
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	// AnnotationCosignSignature holds the base64 signature of a layer.
	AnnotationCosignSignature = "dev.cosignproject.cosign/signature"
	// ArtifactTypeCosign is a classic signature stored as a referrer
	// (cosign's --registry-referrers-mode=oci-1-1).
	ArtifactTypeCosign = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// ArtifactTypeSigstoreBundle is a sigstore bundle stored as a referrer
	// (cosign --new-bundle-format, the default of cosign v3).
	ArtifactTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"

	// mediaTypeDSSE is the layer of a cosign attestation (".att").
	mediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"

	cosignPayloadType = "cosign container image signature"
	inTotoPayloadType = "application/vnd.in-toto+json"
	inTotoStatementV1 = "https://in-toto.io/Statement/v1"
)

// simpleSigning is the part of cosign's payload that is checked.
type simpleSigning struct {
	Critical struct {
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// verifyCosignPayload checks a classic cosign signature: sig (base64, as
// in the layer's annotation) over payload, the layer's blob exactly as
// stored, with one of keys, and that the payload names d (else a
// signature copied onto another artifact would verify).
func verifyCosignPayload(keys []crypto.PublicKey, payload []byte, sigB64 string, d digest.Digest) error {
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("cosign payload: %w", err)
	}
	if p.Critical.Type != cosignPayloadType {
		return fmt.Errorf("cosign payload of type %q", p.Critical.Type)
	}
	if p.Critical.Image.DockerManifestDigest != string(d) {
		return fmt.Errorf("cosign payload signs %s, not %s", p.Critical.Image.DockerManifestDigest, d)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return fmt.Errorf("cosign signature annotation: %w", err)
	}
	return verifyAny(keys, payload, sig)
}

// bundle is the part of a sigstore bundle (v0.3) that a key-based
// signature needs: the DSSE envelope.
type bundle struct {
	MediaType    string `json:"mediaType"`
	DSSEEnvelope *struct {
		Payload     string `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

type inTotoStatement struct {
	Type    string `json:"_type"`
	Subject []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// verifyBundle checks a sigstore bundle: a DSSE signature over the
// envelope's PAE with one of keys, on an in-toto statement whose subject
// is d.
func verifyBundle(keys []crypto.PublicKey, raw []byte, d digest.Digest) error {
	var b bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("sigstore bundle: %w", err)
	}
	env := b.DSSEEnvelope
	if env == nil {
		return errors.New("sigstore bundle without a DSSE envelope (message signatures are not supported)")
	}
	if env.PayloadType != inTotoPayloadType {
		return fmt.Errorf("sigstore bundle of payload type %q", env.PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return fmt.Errorf("sigstore bundle payload: %w", err)
	}
	var st inTotoStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		return fmt.Errorf("in-toto statement: %w", err)
	}
	if st.Type != inTotoStatementV1 {
		return fmt.Errorf("in-toto statement of type %q", st.Type)
	}
	named := false
	for _, s := range st.Subject {
		if s.Digest[string(d.Algorithm())] == d.Encoded() {
			named = true
		}
	}
	if !named {
		return fmt.Errorf("in-toto statement does not name %s", d)
	}
	pae := dssePAE(env.PayloadType, payload)
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		if verifyAny(keys, pae, sig) == nil {
			return nil
		}
	}
	return errNoMatch
}

// dssePAE is DSSE's pre-authentication encoding: what is signed.
func dssePAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// verifyAny checks sig over msg with each key until one verifies.
func verifyAny(keys []crypto.PublicKey, msg, sig []byte) error {
	for _, k := range keys {
		if verifyKey(k, msg, sig) {
			return nil
		}
	}
	return errNoMatch
}

// verifyKey checks sig over msg as sigstore's verifiers do: ECDSA (ASN.1)
// over SHA-256, or the curve's own hash; RSA PKCS#1 v1.5 or PSS over
// SHA-256; pure Ed25519.
func verifyKey(k crypto.PublicKey, msg, sig []byte) bool {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		if ecdsa.VerifyASN1(k, h[:], sig) {
			return true
		}
		switch k.Curve {
		case elliptic.P384():
			h := sha512.Sum384(msg)
			return ecdsa.VerifyASN1(k, h[:], sig)
		case elliptic.P521():
			h := sha512.Sum512(msg)
			return ecdsa.VerifyASN1(k, h[:], sig)
		}
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		h := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil ||
			rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, nil) == nil
	}
	return false
}
