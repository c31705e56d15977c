package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

type groupsOf struct {
	mu sync.Mutex
	m  map[string][]int64
}

func (g *groupsOf) UserGroups(_ context.Context, id *auth.Identity) ([]int64, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[id.Name], false, nil
}

// TestTokenScopesFollowGroups: the token service grants what the highest
// of a user's direct and group roles allows, with the groups as they are
// when the token is asked for.
func TestTokenScopesFollowGroups(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hash, _ := auth.HashPassword("gina-password")
	gina := &meta.User{Username: "gina", PasswordHash: hash}
	if err := store.CreateUser(ctx, gina); err != nil {
		t.Fatal(err)
	}
	p := &meta.Project{Name: "team", OwnerID: gina.ID}
	if err := store.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := store.RemoveMember(ctx, p.ID, gina.ID); err != nil { // not the owner's admin role
		t.Fatal(err)
	}
	devs := &meta.UserGroup{Name: "devs", Type: meta.OIDCGroup}
	guests := &meta.UserGroup{Name: "guests", Type: meta.OIDCGroup}
	for _, g := range []*meta.UserGroup{devs, guests} {
		if err := store.CreateUserGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetGroupMember(ctx, p.ID, devs.ID, 2); err != nil {
		t.Fatal(err)
	}
	if err := store.SetGroupMember(ctx, p.ID, guests.ID, 3); err != nil {
		t.Fatal(err)
	}
	groups := &groupsOf{m: map[string][]int64{}}
	key, err := auth.LoadOrCreateKey(filepath.Join(t.TempDir(), "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	g := &auth.Gate{Auth: &auth.Authenticator{Store: store, Limiter: auth.NewLimiter(auth.DefaultLimiterConfig), Groups: groups},
		Tokens: auth.NewTokenService(key, "berth", "berth", time.Minute)}
	srv := httptest.NewServer(http.HandlerFunc(g.ServeToken))
	defer srv.Close()
	granted := func() []string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+auth.TokenPath+"?service=berth&scope=repository:team/app:push,pull", nil)
		req.SetBasicAuth("gina", "gina-password")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
			t.Fatalf("token: %d %v", res.StatusCode, err)
		}
		claims, err := g.Tokens.Verify(body.Token)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range claims.Access {
			out = append(out, a.Actions...)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		groups []int64
		direct int
		want   []string
	}{
		{nil, 0, nil},
		{[]int64{guests.ID}, 0, []string{"pull"}},
		{[]int64{guests.ID, devs.ID}, 0, []string{"pull", "push"}},
		{[]int64{guests.ID}, 5, []string{"pull"}},         // limited guest directly, guest by group
		{nil, 2, []string{"pull", "push"}},                // direct only
		{[]int64{devs.ID}, 3, []string{"pull", "push"}},   // the group's developer over a direct guest
		{[]int64{guests.ID}, 4, []string{"pull", "push"}}, // a direct maintainer over the group's guest
	} {
		groups.mu.Lock()
		groups.m["gina"] = tc.groups
		groups.mu.Unlock()
		if tc.direct == 0 {
			_ = store.RemoveMember(ctx, p.ID, gina.ID)
		} else if err := store.SetMember(ctx, p.ID, gina.ID, tc.direct); err != nil {
			t.Fatal(err)
		}
		if got := granted(); !slices.Equal(got, tc.want) {
			t.Errorf("groups %v, direct role %d: granted %v, want %v", tc.groups, tc.direct, got, tc.want)
		}
	}
}
