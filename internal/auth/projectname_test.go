package auth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

func TestNumericName(t *testing.T) {
	for name, want := range map[string]bool{"123": true, "0": true, "": false, "12a": false, "a12": false, "1.2": false, "1-2": false} {
		if got := auth.NumericName(name); got != want {
			t.Errorf("NumericName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestAutoCreateRefusesNumericNames: --auto-create-projects does not create
// a project whose name is all digits (it would read as a project id in the
// API); other names are created as before.
func TestAutoCreateRefusesNumericNames(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := tokenServer(t, store, true)
	for name, created := range map[string]bool{"12345": false, "team42": true} {
		req, _ := http.NewRequest("GET", srv.URL+auth.TokenPath+"?service=berth&scope=repository:"+name+"/app:push,pull", nil)
		req.SetBasicAuth("admin", "admin-password")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// Refused, the administrator is told why rather than given a
		// token without push (see Gate.missingProject).
		if created && res.StatusCode != http.StatusOK ||
			!created && (res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "must not be all digits")) {
			t.Fatalf("token for a push to %s: %d %s", name, res.StatusCode, body)
		}
		_, err = store.GetProjectByName(ctx, name)
		if got := err == nil; got != created || err != nil && !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("project %s after an administrator's push: exists %v (%v), want %v", name, got, err, created)
		}
	}
}
