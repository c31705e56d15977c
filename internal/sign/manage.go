package sign

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// AddKey checks k's PEM for its type (*InvalidKeyError if it does not
// parse or is of an unsupported kind) and stores it; the policies are
// re-read at once, so the next pull on this replica uses it.
func (c *Checker) AddKey(ctx context.Context, k *meta.SigningKey) error {
	if err := CheckKey(k.Type, k.PEM); err != nil {
		return err
	}
	if err := c.opt.Store.CreateSigningKey(ctx, k); err != nil {
		return err
	}
	c.changed(ctx)
	return nil
}

// DeleteKey deletes a key of a project (meta.ErrNotFound if absent).
func (c *Checker) DeleteKey(ctx context.Context, projectID, id int64) error {
	if err := c.opt.Store.DeleteSigningKey(ctx, projectID, id); err != nil {
		return err
	}
	c.changed(ctx)
	return nil
}

// Keys lists a project's keys (see meta.SigningStore.SigningKeys).
func (c *Checker) Keys(ctx context.Context, projectID int64, q meta.ListQuery) ([]meta.SigningKey, int64, error) {
	return c.opt.Store.SigningKeys(ctx, projectID, q)
}

// Key returns one key of a project.
func (c *Checker) Key(ctx context.Context, projectID, id int64) (*meta.SigningKey, error) {
	return c.opt.Store.SigningKey(ctx, projectID, id)
}

func (c *Checker) changed(ctx context.Context) {
	if err := c.Refresh(ctx); err != nil {
		c.opt.Logger.WarnContext(ctx, "refreshing signature policies", "err", err)
	}
}

// CheckKey checks trust material of a type: a cosign public key or
// notation certificates.
func CheckKey(typ, pem string) error {
	switch typ {
	case meta.SigningKeyCosign:
		_, err := ParseCosignKey(pem)
		return err
	case meta.SigningKeyNotation:
		_, err := ParseNotationCerts(pem)
		return err
	}
	return invalid("type must be %q or %q", meta.SigningKeyCosign, meta.SigningKeyNotation)
}

// Fingerprint is the SHA-256 of a key's DER (the public key's PKIX
// encoding, or the first certificate), hex: what `notation cert ls` and
// key inventories show. "" if the PEM does not parse.
func Fingerprint(k *meta.SigningKey) string {
	var der []byte
	switch k.Type {
	case meta.SigningKeyCosign:
		pub, err := ParseCosignKey(k.PEM)
		if err != nil {
			return ""
		}
		if der, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			return ""
		}
	case meta.SigningKeyNotation:
		certs, err := ParseNotationCerts(k.PEM)
		if err != nil {
			return ""
		}
		der = certs[0].Raw
	default:
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Guards reports whether pulls from repo's project are subject to a
// signature policy (no query: the policies are in memory).
func (c *Checker) Guards(repo string) bool {
	pol, ok := c.snap.Load().byName[events.ProjectOf(repo)]
	return ok && (pol.RequireCosign || pol.RequireNotation)
}
