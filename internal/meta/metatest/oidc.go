package metatest

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// testOIDCUsers: an OIDC user is created with its link in one step, found
// by user and by issuer and subject, keeps a CLI secret hash, has its
// admin flag set with the group mark, and goes with its user.
func testOIDCUsers(t *testing.T, s meta.AccessStore) {
	ctx := context.Background()
	local := &meta.User{Username: "local", PasswordHash: "h"}
	noErr(t, s.CreateUser(ctx, local))
	u := &meta.User{Username: "alice", Email: "alice@example.com", PasswordHash: ""}
	o := &meta.OIDCUser{Issuer: "https://idp", Subject: "sub-1"}
	noErr(t, s.CreateOIDCUser(ctx, u, o))
	if u.ID == 0 || o.UserID != u.ID {
		t.Fatalf("ids: user %d link %d", u.ID, o.UserID)
	}
	if o.SubIss() != "sub-1https://idp" {
		t.Fatalf("SubIss = %q", o.SubIss())
	}
	got, err := s.GetOIDCUser(ctx, u.ID)
	noErr(t, err)
	if got.Issuer != "https://idp" || got.Subject != "sub-1" || got.SecretHash != "" || !got.SecretSetAt.IsZero() || got.CreatedAt.IsZero() {
		t.Fatalf("GetOIDCUser = %+v", got)
	}
	if got, err := s.GetOIDCUserBySubject(ctx, "https://idp", "sub-1"); err != nil || got.UserID != u.ID {
		t.Fatalf("GetOIDCUserBySubject = %+v, %v", got, err)
	}
	for _, miss := range [][2]string{{"https://idp", "sub-2"}, {"https://other", "sub-1"}} {
		if _, err := s.GetOIDCUserBySubject(ctx, miss[0], miss[1]); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("GetOIDCUserBySubject(%v): %v", miss, err)
		}
	}
	if _, err := s.GetOIDCUser(ctx, local.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a local user has an OIDC link: %v", err)
	}
	// The same subject again, or a taken name: conflict, and nothing half-made.
	if err := s.CreateOIDCUser(ctx, &meta.User{Username: "alice2"}, &meta.OIDCUser{Issuer: "https://idp", Subject: "sub-1"}); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("same subject: %v", err)
	}
	if _, err := s.GetUserByName(ctx, "alice2"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a refused onboarding left its user: %v", err)
	}
	if err := s.CreateOIDCUser(ctx, &meta.User{Username: "local"}, &meta.OIDCUser{Issuer: "https://idp", Subject: "sub-3"}); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("taken name: %v", err)
	}
	// The same subject at another issuer is another identity.
	noErr(t, s.CreateOIDCUser(ctx, &meta.User{Username: "alice-other"}, &meta.OIDCUser{Issuer: "https://other", Subject: "sub-1"}))

	noErr(t, s.SetOIDCSecret(ctx, u.ID, "hash-1"))
	got, err = s.GetOIDCUser(ctx, u.ID)
	noErr(t, err)
	if got.SecretHash != "hash-1" || got.SecretSetAt.IsZero() {
		t.Fatalf("after SetOIDCSecret: %+v", got)
	}
	if err := s.SetOIDCSecret(ctx, local.ID, "x"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("SetOIDCSecret of a local user: %v", err)
	}

	noErr(t, s.SetOIDCAdmin(ctx, u.ID, true, true))
	got, _ = s.GetOIDCUser(ctx, u.ID)
	uu, err := s.GetUser(ctx, u.ID)
	noErr(t, err)
	if !got.AdminByGroup || !uu.SysAdmin {
		t.Fatalf("after SetOIDCAdmin(true, true): %+v %+v", got, uu)
	}
	noErr(t, s.SetOIDCAdmin(ctx, u.ID, false, false))
	got, _ = s.GetOIDCUser(ctx, u.ID)
	uu, _ = s.GetUser(ctx, u.ID)
	if got.AdminByGroup || uu.SysAdmin {
		t.Fatalf("after SetOIDCAdmin(false, false): %+v %+v", got, uu)
	}
	if err := s.SetOIDCAdmin(ctx, local.ID, true, true); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("SetOIDCAdmin of a local user: %v", err)
	}
	if uu, _ := s.GetUser(ctx, local.ID); uu.SysAdmin {
		t.Fatal("a refused SetOIDCAdmin changed the user")
	}

	if got, _ := s.GetOIDCUser(ctx, u.ID); got.Groups == nil || len(got.Groups) != 0 {
		t.Fatalf("groups before any: %#v", got.Groups)
	}
	noErr(t, s.SetOIDCGroups(ctx, u.ID, []string{"dev", "team-a"}))
	if got, _ := s.GetOIDCUser(ctx, u.ID); len(got.Groups) != 2 || got.Groups[0] != "dev" || got.Groups[1] != "team-a" {
		t.Fatalf("groups: %#v", got.Groups)
	}
	noErr(t, s.SetOIDCGroups(ctx, u.ID, nil))
	if got, _ := s.GetOIDCUser(ctx, u.ID); len(got.Groups) != 0 {
		t.Fatalf("groups after clearing: %#v", got.Groups)
	}
	if err := s.SetOIDCGroups(ctx, local.ID, []string{"x"}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("SetOIDCGroups of a local user: %v", err)
	}

	noErr(t, s.DeleteUser(ctx, u.ID))
	if _, err := s.GetOIDCUser(ctx, u.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("the link outlived its user: %v", err)
	}
	// The subject may be onboarded again once its user is gone.
	noErr(t, s.CreateOIDCUser(ctx, &meta.User{Username: "alice"}, &meta.OIDCUser{Issuer: "https://idp", Subject: "sub-1"}))
}
