package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Access is one grant in a token: the Docker registry token "access" claim.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are a registry token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Access []Access `json:"access"`
	// Epoch is the subject's revocation epoch when the token was issued:
	// a token from an older epoch is refused (see Revocations).
	Epoch int64 `json:"berth_epoch,omitempty"`
	// Groups is, for a token issued to a directory user, the fingerprint
	// of the user's groups then (GroupsFingerprint): the gate sets the
	// grants aside once the directory's answer differs (see Gate.identify).
	Groups string `json:"berth_groups,omitempty"`
}

// TokenService signs and verifies registry tokens (ES256).
type TokenService struct {
	Issuer  string
	Service string
	TTL     time.Duration

	// Revocations, when set, refuses tokens of revoked accounts.
	Revocations *Revocations

	key *ecdsa.PrivateKey
	kid string

	mu    sync.Mutex
	cache map[string]*Claims // verified tokens, so a request costs a map lookup
}

const tokenCacheSize = 10_000

// LoadOrCreateKey reads the PEM EC private key at path, creating it (0600,
// written atomically) if it does not exist.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("token key %s: not PEM", path)
		}
		return x509.ParseECPrivateKey(blk.Bytes)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		err = pem.Encode(tmp, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil { // fails if another process won the race
		return LoadOrCreateKey(path)
	}
	return key, nil
}

// NewTokenService returns a service signing with key.
func NewTokenService(key *ecdsa.PrivateKey, issuer, service string, ttl time.Duration) *TokenService {
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(pub)
	return &TokenService{Issuer: issuer, Service: service, TTL: ttl, key: key, kid: hex.EncodeToString(sum[:8])}
}

// Issue signs a token for subject with the given grants, at the subject's
// current revocation epoch.
func (t *TokenService) Issue(subject string, access []Access) (token string, issued time.Time, err error) {
	return t.IssueAt(subject, t.Revocations.Epoch(subject), access)
}

// IssueAt signs a token at the revocation epoch read before the caller was
// authenticated: a revocation that lands while the token is being made
// then still applies to it.
func (t *TokenService) IssueAt(subject string, epoch int64, access []Access) (token string, issued time.Time, err error) {
	return t.issue(subject, epoch, "", access)
}

// issue signs a token; groups is the subject's GroupsFingerprint for a
// directory user, else "".
func (t *TokenService) issue(subject string, epoch int64, groups string, access []Access) (token string, issued time.Time, err error) {
	issued = time.Now().Truncate(time.Second)
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: t.Issuer, Subject: subject, Audience: jwt.ClaimStrings{t.Service},
			IssuedAt: jwt.NewNumericDate(issued), NotBefore: jwt.NewNumericDate(issued.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(issued.Add(t.TTL)), ID: hex.EncodeToString(jti[:]),
		},
		Access: access,
		Epoch:  epoch,
		Groups: groups,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = t.kid
	s, err := tok.SignedString(t.key)
	return s, issued, err
}

// ErrInvalidToken covers every reason a token is refused.
var ErrInvalidToken = errors.New("invalid token")

// ClockSkew is how far past its expiry a token is still accepted when it
// is first verified, for clocks of replicas that differ a little.
const ClockSkew = 5 * time.Second

// Verify checks a token's signature, issuer, audience, lifetime and that
// its subject was not revoked since it was issued.
func (t *TokenService) Verify(token string) (*Claims, error) {
	t.mu.Lock()
	c, ok := t.cache[token]
	t.mu.Unlock()
	if ok {
		if time.Now().Before(c.ExpiresAt.Time) && c.Epoch >= t.Revocations.Epoch(c.Subject) {
			return c, nil
		}
		return nil, ErrInvalidToken
	}
	c = &Claims{}
	_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return &t.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(t.Issuer), jwt.WithAudience(t.Service),
		jwt.WithExpirationRequired(), jwt.WithLeeway(ClockSkew))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Epoch < t.Revocations.Epoch(c.Subject) {
		return nil, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	t.mu.Lock()
	if t.cache == nil || len(t.cache) >= tokenCacheSize {
		t.cache = map[string]*Claims{}
	}
	t.cache[token] = c
	t.mu.Unlock()
	return c, nil
}

// Allows reports whether the token grants every action on the resource.
func (c *Claims) Allows(typ, name string, actions []string) bool {
	for _, want := range actions {
		found := false
		for _, a := range c.Access {
			if a.Type != typ || a.Name != name {
				continue
			}
			for _, got := range a.Actions {
				if got == want || got == "*" {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}
