package settings

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
)

// The identity settings: how users sign in (Harbor's auth_mode) and the
// LDAP directory, with Harbor's configuration keys.
const (
	AuthMode                     = "auth_mode"
	LDAPURL                      = "ldap_url"
	LDAPSearchDN                 = "ldap_search_dn"
	LDAPSearchPassword           = "ldap_search_password"
	LDAPBaseDN                   = "ldap_base_dn"
	LDAPFilter                   = "ldap_filter"
	LDAPUID                      = "ldap_uid"
	LDAPScope                    = "ldap_scope"
	LDAPTimeout                  = "ldap_timeout"
	LDAPVerifyCert               = "ldap_verify_cert"
	LDAPGroupBaseDN              = "ldap_group_base_dn"
	LDAPGroupSearchFilter        = "ldap_group_search_filter"
	LDAPGroupAttributeName       = "ldap_group_attribute_name"
	LDAPGroupAdminDN             = "ldap_group_admin_dn"
	LDAPGroupMembershipAttribute = "ldap_group_membership_attribute"
	LDAPGroupSearchScope         = "ldap_group_search_scope"
	// LDAPGroupCacheTTL is berth's own: how many seconds a user's directory
	// groups are trusted before the next request looks them up again (0:
	// every request). Harbor reads them only at login.
	LDAPGroupCacheTTL = "ldap_group_cache_ttl"
	// LDAPStartTLS is berth's own: upgrade ldap:// connections with
	// StartTLS (verified as ldap_verify_cert says).
	LDAPStartTLS = "ldap_start_tls"
)

// The values of auth_mode berth has.
const (
	DBAuth   = "db_auth"
	LDAPAuth = "ldap_auth"
	OIDCAuth = "oidc_auth"
)

// MaxGroupCacheTTL bounds ldap_group_cache_ttl (seconds).
const MaxGroupCacheTTL = 3600

// LDAP is the directory configuration. SearchPassword is sealed (see
// Sealer): Settings.SearchPassword opens it.
type LDAP struct {
	URL, SearchDN, SearchPassword, BaseDN, Filter, UID string
	Scope, Timeout                                     int64
	VerifyCert, StartTLS                               bool
	GroupBaseDN, GroupSearchFilter, GroupAttributeName string
	GroupAdminDN, GroupMembershipAttribute             string
	GroupSearchScope, GroupCacheTTL                    int64
}

// Identity is how users sign in.
type Identity struct {
	AuthMode string
	LDAP     LDAP
}

func identityDefaults() Identity {
	return Identity{AuthMode: DBAuth, LDAP: LDAP{UID: "cn", Scope: 2, Timeout: 5, VerifyCert: true,
		GroupAttributeName: "cn", GroupMembershipAttribute: "memberof", GroupSearchScope: 2, GroupCacheTTL: 60}}
}

// secretSettings are write-only: stored sealed, never shown.
var secretSettings = map[string]bool{LDAPSearchPassword: true}

// Secret reports whether name is a write-only setting (never returned).
func Secret(name string) bool { return secretSettings[name] }

func stringSetting(field func(v *Values) *string, check func(string) error) setting {
	return setting{
		set: func(v *Values, raw json.RawMessage) error {
			var s string
			if err := decode(raw, &s, "a string"); err != nil {
				return err
			}
			if len(s) > 4096 {
				return errors.New("want at most 4096 bytes")
			}
			if check != nil {
				if err := check(s); err != nil {
					return err
				}
			}
			*field(v) = s
			return nil
		},
		get: func(v Values) any { return *field(&v) },
	}
}

func intSetting(field func(v *Values) *int64, lo, hi int64) setting {
	return setting{
		set: func(v *Values, raw json.RawMessage) error {
			var n int64
			if err := decode(raw, &n, "a whole number"); err != nil {
				return err
			}
			if n < lo || n > hi {
				return fmt.Errorf("want a number from %d to %d", lo, hi)
			}
			*field(v) = n
			return nil
		},
		get: func(v Values) any { return *field(&v) },
	}
}

func checkLDAPURL(s string) error {
	if s == "" {
		return nil
	}
	if !strings.Contains(s, "://") {
		s = "ldap://" + s // Harbor accepts host[:port]
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "ldap" && u.Scheme != "ldaps" || u.Host == "" {
		return errors.New("want ldap://host[:port] or ldaps://host[:port]")
	}
	return nil
}

func init() {
	l := func(f func(l *LDAP) *string) func(v *Values) *string {
		return func(v *Values) *string { return f(&v.Identity.LDAP) }
	}
	li := func(f func(l *LDAP) *int64) func(v *Values) *int64 {
		return func(v *Values) *int64 { return f(&v.Identity.LDAP) }
	}
	maps.Copy(table, map[string]setting{
		AuthMode: stringSetting(func(v *Values) *string { return &v.Identity.AuthMode }, func(s string) error {
			if s != DBAuth && s != LDAPAuth && s != OIDCAuth {
				return fmt.Errorf("want %q, %q or %q (berth has no http_auth)", DBAuth, LDAPAuth, OIDCAuth)
			}
			return nil
		}),
		LDAPURL:                      stringSetting(l(func(l *LDAP) *string { return &l.URL }), checkLDAPURL),
		LDAPSearchDN:                 stringSetting(l(func(l *LDAP) *string { return &l.SearchDN }), nil),
		LDAPSearchPassword:           stringSetting(l(func(l *LDAP) *string { return &l.SearchPassword }), nil),
		LDAPBaseDN:                   stringSetting(l(func(l *LDAP) *string { return &l.BaseDN }), nil),
		LDAPFilter:                   stringSetting(l(func(l *LDAP) *string { return &l.Filter }), nil),
		LDAPUID:                      stringSetting(l(func(l *LDAP) *string { return &l.UID }), nonEmpty),
		LDAPScope:                    intSetting(li(func(l *LDAP) *int64 { return &l.Scope }), 0, 2),
		LDAPTimeout:                  intSetting(li(func(l *LDAP) *int64 { return &l.Timeout }), 1, 60),
		LDAPGroupBaseDN:              stringSetting(l(func(l *LDAP) *string { return &l.GroupBaseDN }), nil),
		LDAPGroupSearchFilter:        stringSetting(l(func(l *LDAP) *string { return &l.GroupSearchFilter }), nil),
		LDAPGroupAttributeName:       stringSetting(l(func(l *LDAP) *string { return &l.GroupAttributeName }), nil),
		LDAPGroupAdminDN:             stringSetting(l(func(l *LDAP) *string { return &l.GroupAdminDN }), nil),
		LDAPGroupMembershipAttribute: stringSetting(l(func(l *LDAP) *string { return &l.GroupMembershipAttribute }), nil),
		LDAPGroupSearchScope:         intSetting(li(func(l *LDAP) *int64 { return &l.GroupSearchScope }), 0, 2),
		LDAPGroupCacheTTL:            intSetting(li(func(l *LDAP) *int64 { return &l.GroupCacheTTL }), 0, MaxGroupCacheTTL),
		LDAPStartTLS: {
			set: func(v *Values, raw json.RawMessage) error {
				return decode(raw, &v.Identity.LDAP.StartTLS, "true or false")
			},
			get: func(v Values) any { return v.Identity.LDAP.StartTLS },
		},
		LDAPVerifyCert: {
			set: func(v *Values, raw json.RawMessage) error {
				return decode(raw, &v.Identity.LDAP.VerifyCert, "true or false")
			},
			get: func(v Values) any { return v.Identity.LDAP.VerifyCert },
		},
	})
}

func nonEmpty(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// Sealer encrypts write-only settings at rest (AES-256-GCM) with a key
// derived from a secret every replica shares (berth's session key).
type Sealer struct{ aead cipher.AEAD }

const sealedPrefix = "enc:v1:"

// NewSealer derives the sealing key from secret.
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < 16 {
		return nil, errors.New("settings: the sealing secret is too short")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("berth settings sealing key v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain ("" stays "": no secret).
func (s *Sealer) Seal(plain string) string {
	if plain == "" {
		return ""
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), []byte("ldap")))
}

// Open decrypts a value Seal made.
func (s *Sealer) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if !strings.HasPrefix(sealed, sealedPrefix) || err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("settings: a sealed secret is malformed")
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte("ldap"))
	if err != nil {
		return "", errors.New("settings: a sealed secret cannot be opened with this key (is the session key shared by every replica?)")
	}
	return string(plain), nil
}

// SetSealer makes s seal write-only settings with sealer (without one,
// changing them is refused).
func (s *Settings) SetSealer(sealer *Sealer) {
	if s != nil {
		s.sealer = sealer
	}
}

// SearchPassword returns the LDAP search password in clear.
func (s *Settings) SearchPassword() (string, error) {
	v := s.Get()
	if s == nil || s.sealer == nil {
		if v.Identity.LDAP.SearchPassword != "" {
			return "", errors.New("settings: no key to open the LDAP search password")
		}
		return "", nil
	}
	return s.sealer.Open(v.Identity.LDAP.SearchPassword)
}

// seal replaces the plain values of write-only settings in v by sealed
// ones.
func (s *Settings) seal(v *Values, changes map[string]json.RawMessage) error {
	if _, ok := changes[LDAPSearchPassword]; ok {
		if s.sealer == nil {
			return &InvalidError{Problems: []Problem{{LDAPSearchPassword, "berth has no key to encrypt it"}}}
		}
		v.Identity.LDAP.SearchPassword = s.sealer.Seal(v.Identity.LDAP.SearchPassword)
	}
	if _, ok := changes[OIDCClientSecret]; ok {
		if s.sealer == nil {
			return &InvalidError{Problems: []Problem{{OIDCClientSecret, "berth has no key to encrypt it"}}}
		}
		v.OIDC.ClientSecret = s.sealer.Seal(v.OIDC.ClientSecret)
	}
	return nil
}
