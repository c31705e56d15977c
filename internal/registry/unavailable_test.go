package registry

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// TestDatabaseLockedAnswers503: while another process holds the metadata
// database's write lock past the busy timeout, pushes fail with 503
// UNAVAILABLE and Retry-After (clients retry), not with a 500; pulls go on
// beside the lock, and pushes work again once it is released.
func TestDatabaseLockedAnswers503(t *testing.T) {
	dir := t.TempDir()
	e := openEnvWith(t, dir, Options{}, sqlstore.SQLiteOptions{BusyTimeout: 100 * time.Millisecond})
	pulled := e.pushBlob("p/a", []byte("before the lock"))

	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "meta.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()

	content := []byte("pushed while locked")
	d := digest.FromBytes(content)
	for _, r := range []resp{
		e.do("POST", "/v2/p/a/blobs/uploads/", nil),
		e.do("POST", "/v2/p/a/blobs/uploads/?digest="+string(d), bytes.NewReader(content)),
	} {
		e.expect(r, http.StatusServiceUnavailable, "UNAVAILABLE")
		if got := r.header.Get("Retry-After"); got != "5" {
			t.Fatalf("Retry-After = %q, want 5", got)
		}
	}
	e.expect(e.do("HEAD", "/v2/p/a/blobs/"+string(pulled), nil), http.StatusOK, "")

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	e.pushBlob("p/a", content)
}
