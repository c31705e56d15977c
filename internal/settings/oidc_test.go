package settings

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/secretbox"
)

func TestOIDCSettings(t *testing.T) {
	ctx := context.Background()
	s := New(&memStore{}, nil)
	box, _ := secretbox.New(make([]byte, 32))
	sealed := box.Seal(OIDCClientSecret, "client-secret")
	v, err := s.Update(ctx, raw(OIDCEndpoint, `"https://idp.example.com/realms/x"`, OIDCClientID, `"berth"`,
		OIDCClientSecret, `"`+sealed+`"`, OIDCScope, `"openid,profile, email"`, OIDCVerifyCert, "false",
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
	if got, err := box.Open(OIDCClientSecret, o.ClientSecret); err != nil || got != "client-secret" {
		t.Fatalf("client secret: %q %v", got, err)
	}
	if !slices.Equal(o.Scopes(), []string{"openid", "profile", "email"}) {
		t.Fatalf("Scopes = %v", o.Scopes())
	}
	if p := o.ExtraParams(); p["prompt"] != "login" || len(p) != 1 {
		t.Fatalf("ExtraParams = %v", p)
	}
	if !WriteOnly(OIDCClientSecret) || WriteOnly(OIDCClientID) {
		t.Fatal("WriteOnly")
	}
	for _, bad := range []map[string]string{
		{OIDCEndpoint: `"ftp://x"`},
		{OIDCEndpoint: `"https://x/?a=b"`},
		{OIDCClientSecret: `"plain"`},
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
