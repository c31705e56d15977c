package replication

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/test/distserver"
)

func newRegistries(t testing.TB) (*Registries, *sqlstore.Store) {
	t.Helper()
	store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sealer, err := settings.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return New(store, sealer, nil), store
}

// TestRegistrySealed: the secret is sealed in the store, opened by Get,
// redacted by Shown and List, and kept by an update that sends "*****".
func TestRegistrySealed(t *testing.T) {
	ctx := context.Background()
	rs, store := newRegistries(t)
	r := &Registry{Name: "hub", Type: TypeDockerHub, Credential: &Credential{AccessKey: "me", AccessSecret: "s3cret"}}
	if err := rs.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.URL != dockerHubURL || r.Credential.Type != CredentialBasic {
		t.Errorf("defaults: %+v %+v", r, r.Credential)
	}
	row, err := store.Registry(ctx, r.ID)
	if err != nil || row.AccessSecret == "" || strings.Contains(row.AccessSecret, "s3cret") {
		t.Fatalf("stored secret %q (%v)", row.AccessSecret, err)
	}
	got, err := rs.Get(ctx, r.ID)
	if err != nil || got.Credential.AccessSecret != "s3cret" {
		t.Fatalf("Get: %v %+v", err, got)
	}
	shown, _ := rs.Shown(ctx, r.ID)
	list, _, _ := rs.List(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	if shown.Credential.AccessSecret != Redacted || list[0].Credential.AccessSecret != Redacted {
		t.Errorf("shown %q, listed %q", shown.Credential.AccessSecret, list[0].Credential.AccessSecret)
	}
	shown.Description = "d"
	if err := rs.Update(ctx, shown); err != nil {
		t.Fatal(err)
	}
	if got, _ := rs.Get(ctx, r.ID); got.Credential.AccessSecret != "s3cret" || got.Description != "d" {
		t.Errorf("after an update with the redacted secret: %+v", got.Credential)
	}
	for _, bad := range []*Registry{
		{Name: "x", Type: "nope", URL: "http://a"},
		{Name: "x", Type: TypeHarbor, URL: "ftp://a"},
		{Name: "x", Type: TypeHarbor, URL: "http://a/path"},
		{Name: "", Type: TypeHarbor, URL: "http://a"},
		{Name: "x", Type: TypeHarbor, URL: "http://a", Credential: &Credential{Type: "kerberos", AccessKey: "k"}},
	} {
		if err := rs.Create(ctx, bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// TestRetryAfter: a registry behind a proxy that answers 429 (with
// Retry-After: 1) to the first two requests is still reached; the wait
// is what it asked for, and the registry's other requests waited too.
func TestRetryAfter(t *testing.T) {
	dist := distserver.Start(t, distserver.Options{})
	target, _ := url.Parse(dist.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var refused atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refused.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	rs, _ := newRegistries(t)
	start := time.Now()
	if err := rs.Ping(context.Background(), &Registry{Name: "p", Type: TypeDockerRegistry, URL: front.URL}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("ping took %s, want about 2s (two Retry-After: 1)", d)
	}
	if n := refused.Load(); n < 3 {
		t.Errorf("%d requests", n)
	}
	// A registry that keeps refusing: the retries are bounded.
	refused.Store(-1000)
	rs.MaxRetries, rs.MaxBackoff = 2, 100*time.Millisecond
	if err := rs.Ping(context.Background(), &Registry{Name: "p", Type: TypeDockerRegistry, URL: front.URL}); err == nil {
		t.Error("a registry that always answers 429 pinged fine")
	}
}

// TestLimiter: the bucket lets a burst through, then paces at its rate.
func TestLimiter(t *testing.T) {
	l := newLimiter(50, 5)
	start := time.Now()
	for range 15 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("15 requests at 50/s after a burst of 5 took %s, want about 200ms", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	l.pause(time.Hour)
	if err := l.wait(ctx); err == nil {
		t.Error("a paused limiter let a request through")
	}
}
