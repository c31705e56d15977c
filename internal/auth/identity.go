package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// Kind says what sort of caller an Identity is.
type Kind int

const (
	Anonymous Kind = iota
	UserKind
	RobotKind
)

// Identity is an authenticated (or anonymous) caller.
type Identity struct {
	Kind     Kind
	Name     string
	UserID   int64
	SysAdmin bool
	Robot    *meta.Robot
	// Groups are the user groups the user is in now (see Enrich).
	Groups []int64
	// External: signed in against a Directory, not a local password.
	External bool
	// GroupAdmin: one of Groups grants the system administrator role
	// (Harbor's ldap_group_admin_dn); SysAdmin includes it.
	GroupAdmin bool
}

// AnonymousIdentity is the caller without credentials.
var AnonymousIdentity = &Identity{Kind: Anonymous, Name: "anonymous"}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the caller of a request, or AnonymousIdentity.
func FromContext(ctx context.Context) *Identity {
	if id, ok := ctx.Value(ctxKey{}).(*Identity); ok {
		return id
	}
	return AnonymousIdentity
}

// Errors of authentication.
var (
	ErrBadCredentials = errors.New("invalid username or password")
	ErrLocked         = errors.New("too many failed logins: try again later")
)

// RobotPrefix starts every robot account name, as in Harbor.
const RobotPrefix = meta.RobotPrefix

// Authenticator checks credentials against the access store, with the
// brute-force limiter in front and a short-lived cache of verified
// credentials behind (bcrypt is deliberately slow; clients that send Basic
// auth on every request must not pay it each time).
type Authenticator struct {
	Store   meta.AccessStore
	Limiter *Limiter
	// Revocations, when set, makes cached credentials of a revoked account
	// (disabled, deleted, password changed — here or on another replica)
	// stop working at once.
	Revocations *Revocations
	// OnLogin is told of every login attempt (for the audit log).
	OnLogin func(ctx context.Context, name, remote string, ok bool)
	// CLISecretLifetime, when set, is how long an OIDC user's CLI secret
	// works after it was set (0: until replaced).
	CLISecretLifetime func() time.Duration
	// OnlyBreakGlassPasswords, when set and true (auth_mode oidc_auth),
	// refuses the local passwords of every user but BreakGlassUser: users
	// sign in at the provider, and give clients their CLI secret.
	OnlyBreakGlassPasswords func() bool
	// Directory, when set and active, checks the passwords of every user
	// but BreakGlassUser (auth_mode ldap_auth).
	Directory Directory
	// Groups, when set, tells users' groups (see Enrich).
	Groups GroupSource
	// OnBreakGlass is told when BreakGlassUser signs in with its local
	// password while a Directory is active or OnlyBreakGlassPasswords
	// holds (for the audit log).
	OnBreakGlass func(ctx context.Context, name, remote string)

	mu    sync.Mutex
	cache map[[32]byte]cachedIdentity
}

type cachedIdentity struct {
	id      *Identity
	epoch   int64
	expires time.Time
}

const (
	credCacheTTL  = 30 * time.Second
	credCacheSize = 10_000
)

func credKey(name, secret string) [32]byte {
	return sha256.Sum256([]byte(name + "\x00" + secret))
}

// Login verifies a name and password (or robot secret). remote is the
// client address, a limiter key beside the name.
func (a *Authenticator) Login(ctx context.Context, name, secret, remote string) (*Identity, error) {
	key := credKey(name, secret)
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && time.Now().Before(c.expires) && c.epoch >= a.Revocations.Epoch(name) &&
		(name == BreakGlassUser || !a.directoryActive()) {
		a.mu.Unlock()
		return a.enriched(ctx, c.id)
	}
	a.mu.Unlock()

	attempt, delay, locked := a.Limiter.Begin(name, hostOnly(remote), strings.HasPrefix(name, RobotPrefix))
	if locked {
		a.notify(ctx, name, remote, false)
		return nil, ErrLocked
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			attempt.Release()
			return nil, ctx.Err()
		}
	}
	epoch := a.Revocations.Epoch(name) // before the check: a revocation racing it wins
	id, err := a.verify(ctx, name, secret)
	if errors.Is(err, ErrBadCredentials) {
		attempt.Fail()
		a.notify(ctx, name, remote, false)
		return nil, err
	}
	if err != nil {
		attempt.Release()
		return nil, err
	}
	attempt.Succeed()
	a.notify(ctx, name, remote, true)
	if name == BreakGlassUser && a.OnBreakGlass != nil && (a.directoryActive() || a.onlyBreakGlass()) {
		a.OnBreakGlass(ctx, name, remote)
	}
	if id.External {
		// A directory password is never cached, not even as a fast hash:
		// every sign-in binds (through the limiter above).
		return a.enriched(ctx, id)
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) >= credCacheSize {
		a.cache = map[[32]byte]cachedIdentity{}
	}
	a.cache[key] = cachedIdentity{id: id, epoch: epoch, expires: time.Now().Add(credCacheTTL)}
	a.mu.Unlock()
	return a.enriched(ctx, id)
}

// enriched returns a copy of a cached or new identity with its groups.
func (a *Authenticator) enriched(ctx context.Context, id *Identity) (*Identity, error) {
	cp := *id
	if err := a.Enrich(ctx, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

func (a *Authenticator) directoryActive() bool { return a.Directory != nil && a.Directory.Active() }

func (a *Authenticator) onlyBreakGlass() bool {
	return a.OnlyBreakGlassPasswords != nil && a.OnlyBreakGlassPasswords()
}

// Revoke ends every credential of account issued until now: tokens,
// sessions and cached passwords, on every replica within seconds.
func (a *Authenticator) Revoke(ctx context.Context, account string) error {
	a.Forget()
	return a.Revocations.RevokeAccount(ctx, account)
}

// Forget drops cached credentials (after a password change, a disabled
// user or robot, a deleted account): the next request verifies again.
func (a *Authenticator) Forget() {
	a.mu.Lock()
	a.cache = nil
	a.mu.Unlock()
}

func (a *Authenticator) notify(ctx context.Context, name, remote string, ok bool) {
	if a.OnLogin != nil {
		a.OnLogin(ctx, name, remote, ok)
	}
}

func (a *Authenticator) verify(ctx context.Context, name, secret string) (*Identity, error) {
	if strings.HasPrefix(name, RobotPrefix) {
		r, err := a.Store.GetRobotByName(ctx, name)
		if errors.Is(err, meta.ErrNotFound) {
			CheckPassword(dummyHash(), secret) // same time as a real check
			return nil, ErrBadCredentials
		}
		if err != nil {
			return nil, err
		}
		if !CheckPassword(r.SecretHash, secret) || r.Disabled || !r.ExpiresAt.IsZero() && time.Now().After(r.ExpiresAt) {
			return nil, ErrBadCredentials
		}
		return &Identity{Kind: RobotKind, Name: r.Name, Robot: r}, nil
	}
	if name != BreakGlassUser && a.directoryActive() {
		return a.verifyDirectory(ctx, name, secret)
	}
	u, err := a.Store.GetUserByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		CheckPassword(dummyHash(), secret)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	// A user onboarded through OIDC has no password here: its CLI secret
	// stands in for one (docker login, Basic, the token endpoint).
	o, err := a.Store.GetOIDCUser(ctx, u.ID)
	switch {
	case err == nil:
		if !checkCLISecret(o.SecretHash, secret) || u.Disabled || a.cliSecretExpired(o) {
			return nil, ErrBadCredentials
		}
	case errors.Is(err, meta.ErrNotFound):
		if a.onlyBreakGlass() && u.Username != BreakGlassUser {
			CheckPassword(dummyHash(), secret)
			return nil, ErrBadCredentials
		}
		if !CheckPassword(u.PasswordHash, secret) || u.Disabled {
			return nil, ErrBadCredentials
		}
	default:
		return nil, err
	}
	return &Identity{Kind: UserKind, Name: u.Username, UserID: u.ID, SysAdmin: u.SysAdmin}, nil
}

// cliSecretExpired reports whether o's CLI secret has outlived the
// lifetime the administrator set.
func (a *Authenticator) cliSecretExpired(o *meta.OIDCUser) bool {
	if a.CLISecretLifetime == nil {
		return false
	}
	life := a.CLISecretLifetime()
	return life > 0 && time.Since(o.SecretSetAt) > life
}

// dummyHash makes a login for an unknown name cost the same as a real one,
// so timing does not reveal which names exist. It is made on first use:
// a bcrypt hash at package init would add its cost to every start.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("not-a-real-password")
	return h
})

func hostOnly(remote string) string {
	if i := strings.LastIndexByte(remote, ':'); i > 0 && !strings.HasSuffix(remote, "]") {
		return strings.Trim(remote[:i], "[]")
	}
	return remote
}

// Subject works out id's rights in the named project. It returns
// meta.ErrNotFound if the project does not exist.
func (a *Authenticator) Subject(ctx context.Context, id *Identity, project string) (rbac.Subject, *meta.Project, error) {
	p, err := a.Store.GetProjectByName(ctx, project)
	if err != nil {
		return rbac.Subject{}, nil, err
	}
	s := rbac.Subject{Public: p.Public, Authenticated: id.Kind != Anonymous}
	switch id.Kind {
	case UserKind:
		s.SysAdmin = id.SysAdmin
		role, err := a.Role(ctx, id, p.ID)
		if err != nil {
			return s, p, err
		}
		s.Role = role
	case RobotKind:
		s.Robot = []rbac.Action{}
		if id.Robot.Level == "project" && id.Robot.ProjectID != p.ID {
			return s, p, nil
		}
		for _, perm := range id.Robot.Permissions {
			// By id: a grant in a deleted project does not pass to a
			// project re-created under its name.
			if perm.Project == "*" || perm.ProjectID != 0 && perm.ProjectID == p.ID {
				for _, act := range perm.Actions {
					s.Robot = append(s.Robot, rbac.Action(act))
				}
			}
		}
	}
	return s, p, nil
}
