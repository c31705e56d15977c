package auth

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Revocations holds every subject's revocation epoch in memory, so a token
// check costs a map lookup and no query. Changes made here apply at once;
// changes made by other replicas arrive with the next Refresh (every
// RefreshEvery while Run runs), so a revocation takes effect everywhere
// within seconds.
type Revocations struct {
	Store meta.RevocationStore
	// OnChange is called after a refresh brought changes from elsewhere
	// (the authenticator drops its credential cache then).
	OnChange func()
	Log      *slog.Logger

	mu sync.RWMutex
	// accounts and sessions are keyed by bare name and id, so the token
	// check builds no string.
	accounts map[string]int64
	sessions map[string]int64
	seen     time.Time // newest ChangedAt read from the store
}

// Subjects of revocation epochs in the store: "account:" + a user or robot
// name (robot names start with robot$), "session:" + a session id.
const (
	accountPrefix = "account:"
	sessionPrefix = "session:"
)

// RefreshEvery is how often Run reads other replicas' revocations.
const RefreshEvery = 2 * time.Second

// refreshOverlap re-reads a window before the newest change seen: replicas'
// clocks differ a little, and a change stamped slightly in the past must
// not be missed.
const refreshOverlap = 30 * time.Second

// Epoch is the current epoch of an account (user or robot name).
func (r *Revocations) Epoch(account string) int64 {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	e := r.accounts[account]
	r.mu.RUnlock()
	return e
}

// RevokeAccount invalidates every token and cached credential issued to
// the account until now.
func (r *Revocations) RevokeAccount(ctx context.Context, account string) error {
	return r.revoke(ctx, accountPrefix+account)
}

// RevokeSession ends one login session.
func (r *Revocations) RevokeSession(ctx context.Context, id string) error {
	return r.revoke(ctx, sessionPrefix+id)
}

// SessionRevoked reports whether a session was logged out.
func (r *Revocations) SessionRevoked(id string) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	e := r.sessions[id]
	r.mu.RUnlock()
	return e > 0
}

func (r *Revocations) revoke(ctx context.Context, subject string) error {
	if r == nil {
		return nil
	}
	e, err := r.Store.Revoke(ctx, subject)
	if err != nil {
		return err
	}
	r.set(subject, e)
	return nil
}

func (r *Revocations) set(subject string, e int64) bool {
	var m *map[string]int64
	var key string
	switch {
	case strings.HasPrefix(subject, accountPrefix):
		m, key = &r.accounts, subject[len(accountPrefix):]
	case strings.HasPrefix(subject, sessionPrefix):
		m, key = &r.sessions, subject[len(sessionPrefix):]
	default:
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	if (*m)[key] >= e {
		return false
	}
	(*m)[key] = e
	return true
}

// Refresh reads the revocations changed since the last refresh (all of
// them the first time).
func (r *Revocations) Refresh(ctx context.Context) error {
	r.mu.RLock()
	since := r.seen
	r.mu.RUnlock()
	if !since.IsZero() {
		since = since.Add(-refreshOverlap)
	}
	list, err := r.Store.ListRevocations(ctx, since)
	if err != nil {
		return err
	}
	changed := false
	for _, rv := range list {
		if r.set(rv.Subject, rv.Epoch) {
			changed = true
		}
		r.mu.Lock()
		if rv.ChangedAt.After(r.seen) {
			r.seen = rv.ChangedAt
		}
		r.mu.Unlock()
	}
	if changed && r.OnChange != nil {
		r.OnChange()
	}
	return nil
}

// PruneSessions forgets logged-out sessions older than maxAge: their
// cookies have expired anyway.
func (r *Revocations) PruneSessions(ctx context.Context, maxAge time.Duration) error {
	before := time.Now().Add(-maxAge)
	if _, err := r.Store.PruneRevocations(ctx, sessionPrefix, before); err != nil {
		return err
	}
	list, err := r.Store.ListRevocations(ctx, time.Time{})
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, rv := range list {
		keep[rv.Subject] = true
	}
	r.mu.Lock()
	for id := range r.sessions {
		if !keep[sessionPrefix+id] {
			delete(r.sessions, id)
		}
	}
	r.mu.Unlock()
	return nil
}

// Run refreshes every RefreshEvery until ctx ends.
func (r *Revocations) Run(ctx context.Context) {
	t := time.NewTicker(RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil && r.Log != nil {
				r.Log.Warn("reading token revocations", "err", err)
			}
		}
	}
}
