package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// LimiterConfig sets the brute-force policy: after SlowAfter failures in
// Window, each further attempt waits one more second (up to MaxDelay); after
// LockAfter failures, attempts are refused for Lockout.
type LimiterConfig struct {
	SlowAfter int
	LockAfter int
	Window    time.Duration
	Lockout   time.Duration
	MaxDelay  time.Duration
}

// DefaultLimiterConfig is 5 free failures, then slower, locked at 10 for 15m.
var DefaultLimiterConfig = LimiterConfig{SlowAfter: 5, LockAfter: 10, Window: 15 * time.Minute, Lockout: 15 * time.Minute, MaxDelay: 5 * time.Second}

// Limiter counts failed logins per key (a user name, a client address).
// State is per process; with several replicas each applies the policy to
// the attempts it sees.
type Limiter struct {
	cfg LimiterConfig
	mu  sync.Mutex
	m   map[string]*failures
	now func() time.Time

	// Refused counts attempts refused while locked (metric-ready).
	Refused atomic.Int64
	// Failed counts failed attempts (metric-ready).
	Failed atomic.Int64
}

type failures struct {
	count       int
	first       time.Time
	lockedUntil time.Time
}

// maxTracked bounds the limiter's memory under a flood of distinct keys.
const maxTracked = 100_000

// NewLimiter returns a limiter with the given policy.
func NewLimiter(cfg LimiterConfig) *Limiter {
	return &Limiter{cfg: cfg, m: map[string]*failures{}, now: time.Now}
}

// Check says whether an attempt for keys is refused (locked) or must first
// wait delay.
func (l *Limiter) Check(keys ...string) (delay time.Duration, locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		f := l.m[k]
		if f == nil {
			continue
		}
		if now.Before(f.lockedUntil) {
			l.Refused.Add(1)
			return 0, true
		}
		if now.Sub(f.first) > l.cfg.Window && f.lockedUntil.IsZero() {
			delete(l.m, k)
			continue
		}
		if over := f.count - l.cfg.SlowAfter; over > 0 {
			delay = max(delay, min(time.Duration(over)*time.Second, l.cfg.MaxDelay))
		}
	}
	return delay, false
}

// Fail records a failed attempt for keys.
func (l *Limiter) Fail(keys ...string) {
	l.Failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.m) >= maxTracked {
		for k, f := range l.m { // drop expired entries first, else any
			if now.After(f.lockedUntil) && now.Sub(f.first) > l.cfg.Window {
				delete(l.m, k)
			}
		}
		if len(l.m) >= maxTracked {
			clear(l.m)
		}
	}
	for _, k := range keys {
		f := l.m[k]
		if f == nil || now.Sub(f.first) > l.cfg.Window && now.After(f.lockedUntil) {
			f = &failures{first: now}
			l.m[k] = f
		}
		f.count++
		if f.count >= l.cfg.LockAfter {
			f.lockedUntil = now.Add(l.cfg.Lockout)
		}
	}
}

// Succeed forgets failures of keys (a correct password for that user).
func (l *Limiter) Succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if f := l.m[k]; f != nil && l.now().After(f.lockedUntil) {
			delete(l.m, k)
		}
	}
}
