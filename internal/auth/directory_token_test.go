package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/rbac"
)

// directoryGroups is a GroupSource whose answers the test changes, as a
// directory's change after its cache time.
type directoryGroups struct {
	mu     sync.Mutex
	groups []int64
	gone   bool
	down   bool
}

func (d *directoryGroups) UserGroups(context.Context, *Identity) ([]int64, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, false, ErrDirectoryUnavailable
	}
	if d.gone {
		return nil, false, ErrBadCredentials
	}
	return d.groups, false, nil
}

func (d *directoryGroups) set(groups []int64, gone bool) {
	d.mu.Lock()
	d.groups, d.gone = groups, gone
	d.mu.Unlock()
}

// TestDirectoryTokenFollowsGroups: a registry token issued to a directory
// user stops granting what a group gave once the user leaves the group
// (the directory's answer changes), works again when the user is back,
// stands while the directory cannot be reached, and is refused once the
// user is gone from the directory; a local
// user's token carries no groups and is not re-checked.
func TestDirectoryTokenFollowsGroups(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hash, _ := HashPassword("local-pass")
	owner := &meta.User{Username: "lou", PasswordHash: hash}
	if err := store.CreateUser(ctx, owner); err != nil {
		t.Fatal(err)
	}
	p := &meta.Project{Name: "team", OwnerID: owner.ID}
	if err := store.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	devs := &meta.UserGroup{Name: "devs", Type: meta.LDAPGroup, LDAPDN: "cn=devs,dc=example,dc=org"}
	if err := store.CreateUserGroup(ctx, devs); err != nil {
		t.Fatal(err)
	}
	if err := store.SetGroupMember(ctx, p.ID, devs.ID, int(rbac.RoleDeveloper)); err != nil {
		t.Fatal(err)
	}
	dir := &fakeDirectory{store: store}
	dir.active.Store(true)
	src := &directoryGroups{groups: []int64{devs.ID}}
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{Auth: &Authenticator{Store: store, Limiter: NewLimiter(DefaultLimiterConfig), Directory: dir, Groups: src},
		Tokens: NewTokenService(key, "berth", "berth", time.Hour)}
	srv := httptest.NewServer(http.HandlerFunc(g.ServeToken))
	t.Cleanup(srv.Close)
	token := func(user, password string) (string, *Claims) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+TokenPath+"?service=berth&scope=repository:team/app:push,pull", nil)
		req.SetBasicAuth(user, password)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
			t.Fatalf("token of %s: %d %v", user, res.StatusCode, err)
		}
		c, err := g.Tokens.Verify(body.Token)
		if err != nil {
			t.Fatal(err)
		}
		return body.Token, c
	}
	push := []rbac.Scope{{Type: "repository", Name: "team/app", Actions: []string{"push", "pull"}}}
	use := func(tok string) error {
		req := httptest.NewRequest("PUT", "/v2/team/app/manifests/v1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		_, err := g.Authorize(req, push)
		return err
	}
	status := func(err error) int {
		var ch *Challenge
		if errors.As(err, &ch) {
			return ch.Status
		}
		if err == nil {
			return 200
		}
		return -1
	}

	tok, c := token("dora", "dir-pass")
	if c.Groups != GroupsFingerprint([]int64{devs.ID}, false) || !c.Allows("repository", "team/app", []string{"push", "pull"}) {
		t.Fatalf("dora's token: %+v", c)
	}
	if err := use(tok); err != nil {
		t.Fatalf("dora's token while in devs: %v", err)
	}
	src.set(nil, false) // dora left devs
	if err := use(tok); status(err) != http.StatusForbidden {
		t.Fatalf("dora's token after leaving devs: %v (status %d), want 403", err, status(err))
	}
	src.set([]int64{devs.ID}, false) // back in devs
	if err := use(tok); err != nil {
		t.Fatalf("dora's token back in devs: %v", err)
	}
	src.mu.Lock()
	src.down = true // the directory cannot tell: the token stands as issued
	src.mu.Unlock()
	if err := use(tok); err != nil {
		t.Fatalf("dora's token while the directory is down: %v", err)
	}
	src.mu.Lock()
	src.down = false
	src.mu.Unlock()
	src.set(nil, true) // gone from the directory
	err = use(tok)
	var ch *Challenge
	if !errors.As(err, &ch) || ch.Status != http.StatusUnauthorized {
		t.Fatalf("dora's token once gone from the directory: %v", err)
	}
	if want := `error="invalid_token"`; !strings.Contains(ch.WWWAuthenticate, want) {
		t.Fatalf("challenge %q, want %s", ch.WWWAuthenticate, want)
	}

	// The break-glass admin and local users: no groups in their tokens.
	dir.active.Store(false)
	src.set(nil, false)
	if err := store.SetMember(ctx, p.ID, owner.ID, int(rbac.RoleDeveloper)); err != nil {
		t.Fatal(err)
	}
	if _, c := token("lou", "local-pass"); c.Groups != "" {
		t.Fatalf("a local user's token carries groups: %+v", c)
	}
}
