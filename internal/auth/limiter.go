package auth

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// LimiterConfig sets the brute-force policy.
//
//   - Per (account, address) pair: after SlowAfter failures within Window
//     each further attempt waits one more second (up to MaxDelay); after
//     LockAfter failures that pair is refused for Lockout. Someone guessing
//     at an account locks out only their own address.
//   - Per address, over all accounts: refused for Lockout after
//     AddressLockAfter failures (password spraying from one address).
//   - Per user account, over all addresses: never locked (a hard lock
//     would let anyone lock out anyone); after LockAfter failures from
//     however many addresses, attempts are slowed the same way. Robot
//     accounts authenticate with long random secrets and are limited per
//     address only.
type LimiterConfig struct {
	SlowAfter        int
	LockAfter        int
	AddressLockAfter int // 0: 5 × LockAfter
	Window           time.Duration
	Lockout          time.Duration
	MaxDelay         time.Duration
}

// DefaultLimiterConfig is 5 free failures, then slower, locked at 10 for 15m.
var DefaultLimiterConfig = LimiterConfig{SlowAfter: 5, LockAfter: 10, Window: 15 * time.Minute, Lockout: 15 * time.Minute, MaxDelay: 5 * time.Second}

// Limiter counts failed logins. Checking and counting are one step: an
// attempt reserves its place before the password is checked, so parallel
// guesses cannot all slip in before the first failure is counted.
// State is per process; with several replicas each applies the policy to
// the attempts it sees.
type Limiter struct {
	cfg LimiterConfig
	mu  sync.Mutex
	m   map[string]*failures
	// order lists entries oldest first, for eviction when the table is full.
	order *list.List
	now   func() time.Time

	// Refused counts attempts refused while locked (metric-ready).
	Refused atomic.Int64
	// Failed counts failed attempts (metric-ready).
	Failed atomic.Int64
	// Lockouts counts lockouts begun: a failure that locked a pair or an
	// address (metric-ready).
	Lockouts atomic.Int64
}

type failures struct {
	key         string
	count       int // failures counted
	pending     int // attempts reserved and not yet finished
	first       time.Time
	lockedUntil time.Time
	elem        *list.Element
}

// rule is how one kind of key is limited; 0 disables that part.
type rule struct{ slowAfter, lockAfter int }

// maxTracked bounds the limiter's memory under a flood of distinct keys;
// past it, the oldest entries that hold no lockout are evicted. Lockouts
// are kept up to hardMaxTracked.
const (
	maxTracked     = 100_000
	hardMaxTracked = 2 * maxTracked
)

// NewLimiter returns a limiter with the given policy.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.AddressLockAfter <= 0 {
		cfg.AddressLockAfter = 5 * cfg.LockAfter
	}
	return &Limiter{cfg: cfg, m: map[string]*failures{}, order: list.New(), now: time.Now}
}

// Attempt is a reserved login attempt; finish it with exactly one of
// Fail, Succeed or Release.
type Attempt struct {
	l     *Limiter
	keys  []string
	rules []rule
	done  bool
}

// Begin reserves an attempt to log in to account from address addr. It
// returns locked if the attempt is refused, else the delay to wait
// before checking the password.
func (l *Limiter) Begin(account, addr string, robot bool) (a *Attempt, delay time.Duration, locked bool) {
	a = &Attempt{l: l,
		keys:  []string{"pair:" + account + "\x00" + addr, "addr:" + addr},
		rules: []rule{{l.cfg.SlowAfter, l.cfg.LockAfter}, {0, l.cfg.AddressLockAfter}},
	}
	if !robot {
		a.keys = append(a.keys, "user:"+account)
		a.rules = append(a.rules, rule{slowAfter: l.cfg.LockAfter})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	entries := make([]*failures, len(a.keys))
	for i, k := range a.keys {
		f := l.m[k]
		if f != nil && f.pending == 0 && now.After(f.lockedUntil) && now.Sub(f.first) > l.cfg.Window {
			l.remove(f)
			f = nil
		}
		if f == nil {
			continue
		}
		r := a.rules[i]
		if now.Before(f.lockedUntil) || r.lockAfter > 0 && f.count+f.pending >= r.lockAfter {
			l.Refused.Add(1)
			return nil, 0, true
		}
		if over := f.count + f.pending - r.slowAfter; r.slowAfter > 0 && over > 0 {
			delay = max(delay, min(time.Duration(over)*time.Second, l.cfg.MaxDelay))
		}
		entries[i] = f
	}
	for i, f := range entries {
		if f == nil {
			f = l.add(a.keys[i], now)
		}
		f.pending++
	}
	return a, delay, false
}

// Fail counts the attempt as a failed login.
func (a *Attempt) Fail() {
	a.l.Failed.Add(1)
	a.finish(func(f *failures, r rule, now time.Time) {
		f.count++
		if r.lockAfter > 0 && f.count >= r.lockAfter {
			if !now.Before(f.lockedUntil) {
				a.l.Lockouts.Add(1)
			}
			f.lockedUntil = now.Add(a.l.cfg.Lockout)
		}
	})
}

// Succeed ends the attempt with a correct password: the failures of this
// account from this address are forgotten. The address's and the
// account's counts stay: one right password does not excuse a spray.
func (a *Attempt) Succeed() {
	a.finish(func(f *failures, _ rule, now time.Time) {
		if f.key == a.keys[0] && now.After(f.lockedUntil) {
			f.count = 0
		}
	})
}

// Release ends the attempt without counting it (the check could not be
// made: a database error, a cancelled request).
func (a *Attempt) Release() { a.finish(func(*failures, rule, time.Time) {}) }

func (a *Attempt) finish(fn func(*failures, rule, time.Time)) {
	if a == nil || a.done {
		return
	}
	a.done = true
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for i, k := range a.keys {
		f := l.m[k]
		if f == nil { // evicted under a flood: start again
			f = l.add(k, now)
		} else {
			f.pending = max(f.pending-1, 0)
		}
		fn(f, a.rules[i], now)
		if f.count == 0 && f.pending == 0 && !now.Before(f.lockedUntil) {
			l.remove(f)
		}
	}
}

func (l *Limiter) add(key string, now time.Time) *failures {
	if len(l.m) >= maxTracked {
		l.evict(now)
	}
	f := &failures{key: key, first: now}
	f.elem = l.order.PushBack(f)
	l.m[key] = f
	return f
}

func (l *Limiter) remove(f *failures) {
	l.order.Remove(f.elem)
	delete(l.m, f.key)
}

// evict drops the oldest tenth of the table, sparing lockouts and
// attempts in flight; only past hardMaxTracked do lockouts go too (an
// attacker would need millions of failed bcrypt checks to get there).
func (l *Limiter) evict(now time.Time) {
	target := maxTracked * 9 / 10
	for e := l.order.Front(); e != nil && len(l.m) > target; {
		next := e.Next()
		if f := e.Value.(*failures); f.pending == 0 && !now.Before(f.lockedUntil) {
			l.remove(f)
		}
		e = next
	}
	for e := l.order.Front(); e != nil && len(l.m) >= hardMaxTracked; {
		next := e.Next()
		if f := e.Value.(*failures); f.pending == 0 {
			l.remove(f)
		}
		e = next
	}
}

// Locked reports whether logins to account from addr are refused now.
func (l *Limiter) Locked(account, addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range []string{"pair:" + account + "\x00" + addr, "addr:" + addr} {
		if f := l.m[k]; f != nil && now.Before(f.lockedUntil) {
			return true
		}
	}
	return false
}
