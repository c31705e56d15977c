package auth_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestMain(m *testing.M) {
	auth.BcryptCost = 4
	code := m.Run()
	pgserver.Cleanup()
	os.Exit(code)
}

// tokenServer serves the token endpoint over store, with an administrator
// "admin" (password "admin-password").
func tokenServer(t *testing.T, store meta.AccessStore, autoCreate bool) *httptest.Server {
	t.Helper()
	hash, err := auth.HashPassword("admin-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateUser(context.Background(), &meta.User{Username: "admin", PasswordHash: hash, SysAdmin: true}); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateKey(filepath.Join(t.TempDir(), "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	g := &auth.Gate{
		Auth:               &auth.Authenticator{Store: store, Limiter: auth.NewLimiter(auth.DefaultLimiterConfig)},
		Tokens:             auth.NewTokenService(key, "berth", "berth", time.Minute),
		AutoCreateProjects: autoCreate,
	}
	srv := httptest.NewServer(http.HandlerFunc(g.ServeToken))
	t.Cleanup(srv.Close)
	return srv
}

// requireToken503 asks srv for a token as admin and wants 503 UNAVAILABLE
// with Retry-After.
func requireToken503(t *testing.T, srv *httptest.Server, scope string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+auth.TokenPath+"?service=berth&scope="+scope, nil)
	req.SetBasicAuth("admin", "admin-password")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Errors []struct{ Code, Message string }
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "5" ||
		len(body.Errors) != 1 || body.Errors[0].Code != "UNAVAILABLE" {
		t.Fatalf("token request with the database unavailable: %d, Retry-After %q, %+v; want 503 UNAVAILABLE, Retry-After 5",
			res.StatusCode, res.Header.Get("Retry-After"), body)
	}
}

// TestTokenDatabaseLockedSQLite: a token request whose grant must write
// (--auto-create-projects on a push) while another process holds the
// SQLite write lock answers 503 with Retry-After, not 500.
func TestTokenDatabaseLockedSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	store, err := sqlstore.OpenSQLiteWith(ctx, path, sqlstore.SQLiteOptions{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := tokenServer(t, store, true)
	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	requireToken503(t, srv, "repository:newproject/app:push,pull")
}

// TestTokenDatabaseLockedPostgres: a token request whose login waits on a
// table another session has locked, until the store's timeout, answers 503
// with Retry-After.
func TestTokenDatabaseLockedPostgres(t *testing.T) {
	url := pgserver.Database(t)
	ctx := context.Background()
	store, err := sqlstore.OpenPostgres(ctx, url, sqlstore.PostgresOptions{MaxConns: 2, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := tokenServer(t, store, false)
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.ExecContext(ctx, `LOCK TABLE users, robots, projects IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	requireToken503(t, srv, "repository:library/app:pull")
}
