package settings

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The OpenID Connect settings: Harbor's configuration keys, plus berth's
// oidc_cli_secret_duration.
const (
	OIDCName               = "oidc_name"
	OIDCEndpoint           = "oidc_endpoint"
	OIDCClientID           = "oidc_client_id"
	OIDCClientSecret       = "oidc_client_secret"
	OIDCScope              = "oidc_scope"
	OIDCVerifyCert         = "oidc_verify_cert"
	OIDCGroupsClaim        = "oidc_groups_claim"
	OIDCAdminGroup         = "oidc_admin_group"
	OIDCGroupFilter        = "oidc_group_filter"
	OIDCUserClaim          = "oidc_user_claim"
	OIDCAutoOnboard        = "oidc_auto_onboard"
	OIDCExtraRedirectParms = "oidc_extra_redirect_parms"
	// OIDCCLISecretDuration is berth's: how many days a CLI secret works
	// after it was set (0: until it is replaced).
	OIDCCLISecretDuration = "oidc_cli_secret_duration"
)

// MaxCLISecretDays bounds oidc_cli_secret_duration (10 years).
const MaxCLISecretDays = 3650

// OIDC is the OpenID Connect provider berth signs users in with.
type OIDC struct {
	Name     string
	Endpoint string // the issuer URL; "" not configured
	ClientID string
	// ClientSecret is sealed (see Sealer): Settings.OIDCClientSecret
	// opens it.
	ClientSecret string
	// Scope is Harbor's comma-separated list (openid among them).
	Scope       string
	VerifyCert  bool
	GroupsClaim string
	AdminGroup  string
	// GroupFilter is a regular expression a group name must match to be
	// taken from the groups claim ("" all).
	GroupFilter string
	UserClaim   string
	AutoOnboard bool
	// ExtraRedirectParms is a JSON object of string values added to the
	// authorization request (Harbor's format), "" none.
	ExtraRedirectParms string
	// CLISecretDays: a CLI secret works this many days after it was set
	// (0: until replaced).
	CLISecretDays int64
}

// defaultOIDC is Harbor's defaults.
func defaultOIDC() OIDC {
	return OIDC{Scope: "openid,offline_access", VerifyCert: true}
}

// Scopes is the scope list, openid first and always present.
func (o OIDC) Scopes() []string {
	out := []string{"openid"}
	for _, s := range strings.Split(o.Scope, ",") {
		if s = strings.TrimSpace(s); s != "" && s != "openid" {
			out = append(out, s)
		}
	}
	return out
}

// ExtraParams decodes ExtraRedirectParms (checked when it was set).
func (o OIDC) ExtraParams() map[string]string {
	m := map[string]string{}
	if o.ExtraRedirectParms != "" {
		_ = json.Unmarshal([]byte(o.ExtraRedirectParms), &m)
	}
	return m
}

// maxShort bounds the text settings.
const maxShort = 1024

func oidcString(get func(v *Values) *string, check func(string) error) setting {
	return setting{
		set: func(v *Values, raw json.RawMessage) error {
			var s string
			if err := decode(raw, &s, "a string"); err != nil {
				return err
			}
			if len(s) > maxShort || !utf8.ValidString(s) {
				return fmt.Errorf("want UTF-8 text of at most %d bytes", maxShort)
			}
			if check != nil {
				if err := check(s); err != nil {
					return err
				}
			}
			*get(v) = s
			return nil
		},
		get: func(v Values) any { return *get(&v) },
	}
}

func oidcBool(get func(v *Values) *bool) setting {
	return setting{
		set: func(v *Values, raw json.RawMessage) error { return decode(raw, get(v), "true or false") },
		get: func(v Values) any { return *get(&v) },
	}
}

var oidcTable = map[string]setting{
	OIDCName: oidcString(func(v *Values) *string { return &v.OIDC.Name }, nil),
	OIDCEndpoint: oidcString(func(v *Values) *string { return &v.OIDC.Endpoint }, func(s string) error {
		if s == "" {
			return nil
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("want the provider's issuer URL (http or https, no query)")
		}
		return nil
	}),
	OIDCClientID:     oidcString(func(v *Values) *string { return &v.OIDC.ClientID }, nil),
	OIDCClientSecret: oidcString(func(v *Values) *string { return &v.OIDC.ClientSecret }, nil),
	OIDCScope: oidcString(func(v *Values) *string { return &v.OIDC.Scope }, func(s string) error {
		for _, sc := range strings.Split(s, ",") {
			if strings.TrimSpace(sc) == "openid" {
				return nil
			}
		}
		return fmt.Errorf("want a comma-separated list of scopes including openid")
	}),
	OIDCVerifyCert:  oidcBool(func(v *Values) *bool { return &v.OIDC.VerifyCert }),
	OIDCGroupsClaim: oidcString(func(v *Values) *string { return &v.OIDC.GroupsClaim }, nil),
	OIDCAdminGroup:  oidcString(func(v *Values) *string { return &v.OIDC.AdminGroup }, nil),
	OIDCGroupFilter: oidcString(func(v *Values) *string { return &v.OIDC.GroupFilter }, func(s string) error {
		if _, err := regexp.Compile(s); err != nil {
			return fmt.Errorf("want a regular expression: %v", err)
		}
		return nil
	}),
	OIDCUserClaim:   oidcString(func(v *Values) *string { return &v.OIDC.UserClaim }, nil),
	OIDCAutoOnboard: oidcBool(func(v *Values) *bool { return &v.OIDC.AutoOnboard }),
	OIDCExtraRedirectParms: oidcString(func(v *Values) *string { return &v.OIDC.ExtraRedirectParms }, func(s string) error {
		if s == "" {
			return nil
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return fmt.Errorf(`want a JSON object of string values, e.g. {"prompt":"login"}`)
		}
		return nil
	}),
	OIDCCLISecretDuration: {
		set: func(v *Values, raw json.RawMessage) error {
			var n int64
			if err := decode(raw, &n, "a whole number of days"); err != nil {
				return err
			}
			if n < 0 || n > MaxCLISecretDays {
				return fmt.Errorf("want a number of days from 0 (never expires) to %d", MaxCLISecretDays)
			}
			v.OIDC.CLISecretDays = n
			return nil
		},
		get: func(v Values) any { return v.OIDC.CLISecretDays },
	},
}

// The OIDC settings join the table (the client secret is write-only);
// neither is changed after this.
func init() {
	for k, st := range oidcTable {
		table[k] = st
	}
	secretSettings[OIDCClientSecret] = true
}

// OIDCClientSecret returns the OIDC client secret in clear.
func (s *Settings) OIDCClientSecret() (string, error) {
	v := s.Get()
	if s == nil || s.sealer == nil {
		if v.OIDC.ClientSecret != "" {
			return "", fmt.Errorf("settings: no key to open the OIDC client secret")
		}
		return "", nil
	}
	return s.sealer.Open(v.OIDC.ClientSecret)
}
