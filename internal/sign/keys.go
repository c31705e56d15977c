package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/internal/meta"
)

// MaxPEMSize bounds one key's PEM text (a certificate chain fits easily).
const MaxPEMSize = 64 << 10

// minRSABits is the smallest RSA key accepted (cosign and notation refuse
// smaller ones too).
const minRSABits = 2048

// InvalidKeyError says why trust material was refused on upload.
type InvalidKeyError struct{ Reason string }

func (e *InvalidKeyError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidKeyError{Reason: fmt.Sprintf(format, args...)}
}

// Material is a project's parsed trust material.
type Material struct {
	// CosignKeys are the public keys cosign signatures may verify with.
	CosignKeys []crypto.PublicKey
	// NotationRoots are the certificates a notation signature's chain
	// must contain one of.
	NotationRoots []*x509.Certificate
}

// ParseMaterial parses a project's keys. A key that no longer parses
// (none should: each was checked on upload) is left out.
func ParseMaterial(keys []meta.SigningKey) Material {
	var m Material
	for _, k := range keys {
		switch k.Type {
		case meta.SigningKeyCosign:
			if pub, err := ParseCosignKey(k.PEM); err == nil {
				m.CosignKeys = append(m.CosignKeys, pub)
			}
		case meta.SigningKeyNotation:
			if certs, err := ParseNotationCerts(k.PEM); err == nil {
				m.NotationRoots = append(m.NotationRoots, certs...)
			}
		}
	}
	return m
}

// ParseCosignKey parses a PEM PKIX public key (what `cosign
// generate-key-pair` writes to cosign.pub): ECDSA on P-256, P-384 or
// P-521, Ed25519, or RSA of at least 2048 bits.
func ParseCosignKey(s string) (crypto.PublicKey, error) {
	if len(s) > MaxPEMSize {
		return nil, invalid("public_key is larger than %d bytes", MaxPEMSize)
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, invalid("public_key is not PEM")
	}
	if len(trimSpace(rest)) != 0 {
		return nil, invalid("public_key holds more than one PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, invalid("public_key is a PEM %q block, want \"PUBLIC KEY\" (a PKIX public key, as cosign.pub)", block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, invalid("public_key: %v", err)
	}
	if err := checkKeyType(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ParseNotationCerts parses PEM X.509 certificates (a root or CA, or the
// signing certificate itself, as `notation cert generate-test` makes).
func ParseNotationCerts(s string) ([]*x509.Certificate, error) {
	if len(s) > MaxPEMSize {
		return nil, invalid("certificate is larger than %d bytes", MaxPEMSize)
	}
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, invalid("certificate holds a PEM %q block, want \"CERTIFICATE\"", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, invalid("certificate: %v", err)
		}
		if err := checkKeyType(c.PublicKey); err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 || len(trimSpace(rest)) != 0 {
		return nil, invalid("certificate is not PEM")
	}
	return certs, nil
}

func checkKeyType(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return invalid("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return invalid("RSA key of %d bits: at least %d are needed", k.N.BitLen(), minRSABits)
		}
		return nil
	}
	return invalid("unsupported key type %T: want ECDSA, Ed25519 or RSA", pub)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// errNoMatch: no key of the project verifies the signature.
var errNoMatch = errors.New("no key of the project verifies the signature")
