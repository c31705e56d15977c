package auth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// countingStore is a real store that counts password checks (every check
// starts by loading the account).
type countingStore struct {
	meta.AccessStore
	lookups atomic.Int64
}

func (c *countingStore) GetUserByName(ctx context.Context, name string) (*meta.User, error) {
	c.lookups.Add(1)
	return c.AccessStore.GetUserByName(ctx, name)
}

func (c *countingStore) GetRobotByName(ctx context.Context, name string) (*meta.Robot, error) {
	c.lookups.Add(1)
	return c.AccessStore.GetRobotByName(ctx, name)
}

const testPassword = "right-password-1"

// newTestAuthenticator opens a real SQLite store with the user alice and
// the robot robot$p+ci, both with testPassword.
func newTestAuthenticator(t *testing.T, cfg LimiterConfig) (*Authenticator, *countingStore) {
	t.Helper()
	BcryptCost = 4
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.CreateUser(ctx, &meta.User{Username: "alice", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	p := &meta.Project{Name: "p"}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRobot(ctx, &meta.Robot{Name: "robot$p+ci", Level: "project", ProjectID: p.ID, SecretHash: hash}); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{AccessStore: st}
	return &Authenticator{Store: cs, Limiter: NewLimiter(cfg)}, cs
}

var fastLimits = LimiterConfig{SlowAfter: 5, LockAfter: 10, Window: time.Minute, Lockout: time.Minute, MaxDelay: 50 * time.Millisecond}

// TestParallelGuessesAreCounted: 200 concurrent guesses from one address
// must not all reach the password check before the first failure is
// counted; at most LockAfter do, and the right password is refused after.
func TestParallelGuessesAreCounted(t *testing.T) {
	a, cs := newTestAuthenticator(t, fastLimits)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 200 {
		wg.Go(func() {
			<-start
			_, _ = a.Login(context.Background(), "alice", fmt.Sprintf("guess-%d", i), "198.51.100.7:4000")
		})
	}
	close(start)
	wg.Wait()
	if n := cs.lookups.Load(); n > int64(fastLimits.LockAfter) {
		t.Fatalf("%d of 200 parallel guesses reached the password check, want at most %d", n, fastLimits.LockAfter)
	}
	if _, err := a.Login(context.Background(), "alice", testPassword, "198.51.100.7:4001"); !errors.Is(err, ErrLocked) {
		t.Fatalf("right password after the guesses: %v, want ErrLocked", err)
	}
}

// TestNoLockoutOfOthers: failures from one address lock that address out
// of the account, not the account's owner elsewhere; robots likewise.
func TestNoLockoutOfOthers(t *testing.T) {
	a, _ := newTestAuthenticator(t, fastLimits)
	ctx := context.Background()
	for _, account := range []string{"alice", "robot$p+ci"} {
		for range 12 {
			if _, err := a.Login(ctx, account, "wrong", "203.0.113.66:1"); err == nil {
				t.Fatal("a wrong password was accepted")
			}
		}
		if _, err := a.Login(ctx, account, testPassword, "203.0.113.66:2"); !errors.Is(err, ErrLocked) {
			t.Fatalf("%s from the attacking address: %v, want ErrLocked", account, err)
		}
		if _, err := a.Login(ctx, account, testPassword, "192.0.2.10:3"); err != nil {
			t.Fatalf("%s from its own address after an attack elsewhere: %v", account, err)
		}
	}
}

// TestManyAddressesSlowNotLock: failures for one account from many
// addresses slow its logins down but never lock the owner out.
func TestManyAddressesSlowNotLock(t *testing.T) {
	cfg := fastLimits
	cfg.MaxDelay = 300 * time.Millisecond
	a, _ := newTestAuthenticator(t, cfg)
	ctx := context.Background()
	for i := range 2 * cfg.LockAfter { // more than one address could do alone
		_, _ = a.Login(ctx, "alice", "wrong", fmt.Sprintf("203.0.113.%d:1", i))
	}
	start := time.Now()
	if _, err := a.Login(ctx, "alice", testPassword, "192.0.2.10:3"); err != nil {
		t.Fatalf("owner after a distributed attack: %v", err)
	}
	if el := time.Since(start); el < cfg.MaxDelay {
		t.Fatalf("owner's login took %s: a distributed attack must slow the account down", el)
	}
}

// TestLimiterEvictionKeepsLockouts: a flood of distinct addresses fills
// the table; the oldest entries go, the lockouts stay.
func TestLimiterEvictionKeepsLockouts(t *testing.T) {
	l := NewLimiter(fastLimits)
	for range fastLimits.LockAfter {
		at, _, locked := l.Begin("alice", "203.0.113.1", false)
		if locked {
			break
		}
		at.Fail()
	}
	if !l.Locked("alice", "203.0.113.1") {
		t.Fatal("not locked after LockAfter failures")
	}
	for i := range maxTracked + 1000 {
		at, _, locked := l.Begin("bob", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), true)
		if !locked {
			at.Fail()
		}
	}
	if len(l.m) > maxTracked {
		t.Fatalf("table holds %d entries, bound %d", len(l.m), maxTracked)
	}
	if !l.Locked("alice", "203.0.113.1") {
		t.Fatal("a flood of other keys dropped an active lockout")
	}
}

// TestReleaseGivesBack: an attempt that could not be checked (database
// error, cancelled request) does not count.
func TestReleaseGivesBack(t *testing.T) {
	l := NewLimiter(fastLimits)
	for range 50 {
		at, _, locked := l.Begin("alice", "192.0.2.1", false)
		if locked {
			t.Fatal("released attempts counted as failures")
		}
		at.Release()
	}
}
