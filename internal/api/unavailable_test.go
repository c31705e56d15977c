package api

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// TestDatabaseLockedAnswers503: while another process holds the database's
// write lock past the busy timeout, a change fails with Harbor's 503
// SERVICE_UNAVAILABLE and Retry-After rather than a 500; reads go on, and
// the change succeeds once the lock is released.
func TestDatabaseLockedAnswers503(t *testing.T) {
	e := newEnvWith(t, sqlstore.SQLiteOptions{BusyTimeout: 100 * time.Millisecond})
	other, err := sql.Open("sqlite", "file:"+e.path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()

	resp, body := e.req(e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "locked"})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("create project under the lock: %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	errs := decode[harborErrors](t, body)
	if len(errs.Errors) != 1 || errs.Errors[0].Code != "SERVICE_UNAVAILABLE" || errs.Errors[0].Message == "" {
		t.Fatalf("error body: %s", body)
	}
	e.expect(http.StatusOK, e.admin, "GET", Prefix+"/projects", nil)

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	e.expect(http.StatusCreated, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "locked"})
}
