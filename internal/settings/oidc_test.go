package settings

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestOIDCSettings(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	s := New(store, nil)
	if _, err := s.Update(ctx, raw(OIDCClientSecret, `"x"`)); err == nil {
		t.Fatal("a client secret was taken without a key to seal it")
	}
	sealer, err := NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s.SetSealer(sealer)
	v, err := s.Update(ctx, raw(OIDCEndpoint, `"https://idp.example.com/realms/x"`, OIDCClientID, `"berth"`,
		OIDCClientSecret, `"client-secret"`, OIDCScope, `"openid,profile, email"`, OIDCVerifyCert, "false",
		OIDCGroupsClaim, `"groups"`, OIDCAdminGroup, `"admins"`, OIDCUserClaim, `"preferred_username"`,
		OIDCAutoOnboard, "true", OIDCExtraRedirectParms, `"{\"prompt\":\"login\"}"`, OIDCCLISecretDuration, "30",
		OIDCGroupFilter, `"^team-"`))
	if err != nil {
		t.Fatal(err)
	}
	o := v.OIDC
	if o.Endpoint != "https://idp.example.com/realms/x" || o.ClientID != "berth" || o.VerifyCert || !o.AutoOnboard ||
		o.CLISecretDays != 30 || o.GroupFilter != "^team-" || o.UserClaim != "preferred_username" {
		t.Fatalf("OIDC = %+v", o)
	}
	if got, err := s.OIDCClientSecret(); err != nil || got != "client-secret" || o.ClientSecret == "client-secret" {
		t.Fatalf("client secret: %q %v (held as %q)", got, err, o.ClientSecret)
	}
	stored, _ := store.Settings(ctx)
	if strings.Contains(stored[OIDCClientSecret], "client-secret") {
		t.Fatalf("client secret stored in clear: %s", stored[OIDCClientSecret])
	}
	if !slices.Equal(o.Scopes(), []string{"openid", "profile", "email"}) {
		t.Fatalf("Scopes = %v", o.Scopes())
	}
	if p := o.ExtraParams(); p["prompt"] != "login" || len(p) != 1 {
		t.Fatalf("ExtraParams = %v", p)
	}
	if !Secret(OIDCClientSecret) || Secret(OIDCClientID) {
		t.Fatal("Secret")
	}
	for _, bad := range []map[string]string{
		{OIDCEndpoint: `"ftp://x"`},
		{OIDCEndpoint: `"https://x/?a=b"`},
		{OIDCClientSecret: `5`},
		{OIDCScope: `"profile,email"`},
		{OIDCVerifyCert: `"yes"`},
		{OIDCGroupFilter: `"("`},
		{OIDCExtraRedirectParms: `"[1]"`},
		{OIDCCLISecretDuration: "-1"},
		{OIDCCLISecretDuration: "3651"},
	} {
		changes := raw()
		for k, val := range bad {
			changes = raw(k, val)
		}
		var inv *InvalidError
		if _, err := s.Update(ctx, changes); !errors.As(err, &inv) {
			t.Errorf("%v accepted", bad)
		}
	}
	if s.Get().OIDC != o {
		t.Fatal("a refused change altered the settings")
	}
}
