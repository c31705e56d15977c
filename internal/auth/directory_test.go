package auth

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// fakeDirectory knows one user; down makes it fail as an unreachable
// directory does.
type fakeDirectory struct {
	active, down atomic.Bool
	calls        atomic.Int64
	store        meta.AccessStore
}

func (d *fakeDirectory) Active() bool { return d.active.Load() }

func (d *fakeDirectory) Verify(ctx context.Context, name, password string) (*meta.User, error) {
	d.calls.Add(1)
	if d.down.Load() {
		return nil, errors.New("dial tcp: i/o timeout")
	}
	if name != "dora" || password != "dir-pass" {
		return nil, ErrBadCredentials
	}
	u, err := d.store.GetUserByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		u = &meta.User{Username: name, PasswordHash: "!"}
		err = d.store.CreateUser(ctx, u)
	}
	return u, err
}

// localUsersStore is a store holding the break-glass admin (password
// "admin-pass") and a local user lou ("local-pass").
func localUsersStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hash, _ := HashPassword("admin-pass")
	if err := store.CreateUser(ctx, &meta.User{Username: BreakGlassUser, PasswordHash: hash, SysAdmin: true}); err != nil {
		t.Fatal(err)
	}
	local, _ := HashPassword("local-pass")
	if err := store.CreateUser(ctx, &meta.User{Username: "lou", PasswordHash: local}); err != nil {
		t.Fatal(err)
	}
	return store
}

func TestDirectorySignIn(t *testing.T) {
	ctx := context.Background()
	store := localUsersStore(t)
	limits := LimiterConfig{SlowAfter: 3, LockAfter: 5, Window: time.Minute, Lockout: time.Minute, MaxDelay: time.Millisecond}
	dir := &fakeDirectory{store: store}
	var glass atomic.Int64
	a := &Authenticator{Store: store, Limiter: NewLimiter(limits), Directory: dir,
		OnBreakGlass: func(context.Context, string, string) { glass.Add(1) }}

	// Inactive: local users only.
	id, err := a.Login(ctx, "lou", "local-pass", "1.2.3.4:5")
	if err != nil || id.External {
		t.Fatalf("local login: %v", err)
	}
	if _, err := a.Login(ctx, "dora", "dir-pass", "1.2.3.4:5"); !errors.Is(err, ErrBadCredentials) || dir.calls.Load() != 0 {
		t.Fatalf("directory while inactive: %v", err)
	}
	dir.active.Store(true)
	// A local password no longer signs in (even one cached a moment ago).
	if _, err := a.Login(ctx, "lou", "local-pass", "1.2.3.4:5"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("local password in directory mode: %v", err)
	}
	id, err = a.Login(ctx, "dora", "dir-pass", "1.2.3.4:5")
	if err != nil || !id.External || id.UserID == 0 {
		t.Fatalf("directory login: %+v %v", id, err)
	}
	// Never cached: every login binds.
	n := dir.calls.Load()
	if _, err := a.Login(ctx, "dora", "dir-pass", "1.2.3.4:5"); err != nil || dir.calls.Load() != n+1 {
		t.Fatalf("second login: %v calls %d", err, dir.calls.Load()-n)
	}
	if _, err := a.Login(ctx, "dora", "", "1.2.3.4:5"); !errors.Is(err, ErrBadCredentials) || dir.calls.Load() != n+1 {
		t.Fatalf("empty password reached the directory: %v", err)
	}
	// Break-glass: admin's local password, audited.
	if _, err := a.Login(ctx, BreakGlassUser, "admin-pass", "1.2.3.4:5"); err != nil || glass.Load() != 1 {
		t.Fatalf("break-glass: %v %d", err, glass.Load())
	}
	// Directory down: a clear error, not a wrong password, and not counted
	// by the limiter; the admin still signs in.
	dir.down.Store(true)
	for range limits.LockAfter + 2 {
		if _, err := a.Login(ctx, "dora", "dir-pass", "1.2.3.4:5"); !errors.Is(err, ErrDirectoryUnavailable) {
			t.Fatalf("directory down: %v", err)
		}
	}
	if _, err := a.Login(ctx, BreakGlassUser, "admin-pass", "1.2.3.4:5"); err != nil {
		t.Fatalf("break-glass with the directory down: %v", err)
	}
	dir.down.Store(false)
	if _, err := a.Login(ctx, "dora", "dir-pass", "1.2.3.4:5"); err != nil {
		t.Fatalf("directory back: %v", err)
	}
	// Wrong directory passwords go through the limiter.
	var locked bool
	for range limits.LockAfter + 1 {
		if _, err := a.Login(ctx, "dora", "wrong", "1.2.3.4:5"); errors.Is(err, ErrLocked) {
			locked = true
			break
		}
	}
	if !locked {
		t.Fatal("the limiter did not lock a directory user out")
	}
}

// TestBreakGlassAuditedUnderOIDC: under oidc_auth (only the break-glass
// admin keeps a local password) the admin's local sign-in is reported as
// break-glass too, and other local passwords are refused.
func TestBreakGlassAuditedUnderOIDC(t *testing.T) {
	ctx := context.Background()
	store := localUsersStore(t)
	var oidcMode atomic.Bool
	var glass atomic.Int64
	a := &Authenticator{Store: store, Limiter: NewLimiter(DefaultLimiterConfig), OnlyBreakGlassPasswords: oidcMode.Load,
		OnBreakGlass: func(context.Context, string, string) { glass.Add(1) }}
	if _, err := a.Login(ctx, BreakGlassUser, "admin-pass", "1.2.3.4:5"); err != nil || glass.Load() != 0 {
		t.Fatalf("db_auth: %v, break-glass %d", err, glass.Load())
	}
	a.Forget()
	oidcMode.Store(true)
	if _, err := a.Login(ctx, BreakGlassUser, "admin-pass", "1.2.3.4:5"); err != nil || glass.Load() != 1 {
		t.Fatalf("oidc_auth: %v, break-glass %d", err, glass.Load())
	}
	if _, err := a.Login(ctx, "lou", "local-pass", "1.2.3.4:5"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a local password under oidc_auth: %v", err)
	}
}
