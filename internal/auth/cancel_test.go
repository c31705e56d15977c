package auth_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// TestTokenRequestCancelledByClient: a token request whose client went
// away (crane cancels the ones it no longer needs) is not a server error:
// 499 in the access log, nothing logged as an error. It was a 500.
func TestTokenRequestCancelledByClient(t *testing.T) {
	store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := tokenServer(t, store, false) // creates admin
	srv.Close()
	key, err := auth.LoadOrCreateKey(filepath.Join(t.TempDir(), "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	g := &auth.Gate{
		Auth:   &auth.Authenticator{Store: store, Limiter: auth.NewLimiter(auth.DefaultLimiterConfig)},
		Tokens: auth.NewTokenService(key, "berth", "berth", time.Minute),
		Log:    slog.New(slog.NewTextHandler(&logged, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", auth.TokenPath+"?service=berth&scope=repository:library/x:pull", nil).WithContext(ctx)
	req.SetBasicAuth("admin", "admin-password")
	rec := httptest.NewRecorder()
	g.ServeToken(rec, req)
	if rec.Code != 499 || logged.Len() != 0 {
		t.Fatalf("cancelled token request: %d, logged %q; want 499 and nothing logged", rec.Code, logged.String())
	}
}
