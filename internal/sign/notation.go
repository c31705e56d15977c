package sign

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers application/cose
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers application/jose+json
	nx509 "github.com/notaryproject/notation-core-go/x509"
	"github.com/opencontainers/go-digest"
)

// Notation signatures (notaryproject specifications, signature-specification.md).
const (
	// ArtifactTypeNotation is a notation signature's artifact type (its
	// config media type: notation v1.3 writes no artifactType).
	ArtifactTypeNotation = "application/vnd.cncf.notary.signature"
	// MediaTypeJWS and MediaTypeCOSE are its envelope layer's types.
	MediaTypeJWS  = "application/jose+json"
	MediaTypeCOSE = "application/cose"

	notationPayloadType = "application/vnd.cncf.notary.payload.v1+json"
)

type notationPayload struct {
	TargetArtifact struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"targetArtifact"`
}

// verifyNotation checks a notation signature envelope (JWS or COSE, by
// mediaType) over artifact d of size bytes: the signature is valid with
// its leaf certificate, the chain is a valid code-signing chain now, it
// contains one of roots, the signature has not expired, and the payload
// names d. Revocation (OCSP/CRL) needs the network and is not checked,
// as notation's trust policy "skip" does.
func verifyNotation(roots []*x509.Certificate, mediaType string, envelope []byte, d digest.Digest, size int64, now time.Time) error {
	if len(roots) == 0 {
		return errNoMatch
	}
	env, err := signature.ParseEnvelope(mediaType, envelope)
	if err != nil {
		return fmt.Errorf("notation envelope: %w", err)
	}
	content, err := env.Verify()
	if err != nil {
		return fmt.Errorf("notation signature: %w", err)
	}
	info := &content.SignerInfo
	if err := nx509.ValidateCodeSigningCertChain(info.CertificateChain, &now); err != nil {
		return fmt.Errorf("notation certificate chain: %w", err)
	}
	if _, err := signature.VerifyAuthenticity(info, roots); err != nil {
		var ae *signature.SignatureAuthenticityError
		if errors.As(err, &ae) {
			return errNoMatch
		}
		return err
	}
	if exp := info.SignedAttributes.Expiry; !exp.IsZero() && now.After(exp) {
		return fmt.Errorf("notation signature expired at %s", exp.Format(time.RFC3339))
	}
	if content.Payload.ContentType != notationPayloadType {
		return fmt.Errorf("notation payload of type %q", content.Payload.ContentType)
	}
	var p notationPayload
	if err := json.Unmarshal(content.Payload.Content, &p); err != nil {
		return fmt.Errorf("notation payload: %w", err)
	}
	if p.TargetArtifact.Digest != string(d) || p.TargetArtifact.Size != size {
		return fmt.Errorf("notation payload signs %s (%d bytes), not %s (%d bytes)", p.TargetArtifact.Digest, p.TargetArtifact.Size, d, size)
	}
	return nil
}
