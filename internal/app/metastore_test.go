package app

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/test/pgserver"
)

// TestRunOnPostgres runs berth with --database-url: a push lands in
// PostgreSQL, and /readyz follows the database's health.
func TestRunOnPostgres(t *testing.T) {
	pg := pgserver.ForTest(t)
	url, err := pg.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = false
	cfg.Database.URL = url
	cfg.Database.MaxConns = 4
	addr, stop := startApp(t, cfg)
	defer stop()
	status := func(method, path string, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if got := status("GET", "/readyz", nil); got != 200 {
		t.Fatalf("/readyz = %d with PostgreSQL up", got)
	}
	blob := []byte("stored through PostgreSQL")
	d := digest.FromBytes(blob)
	if got := status("POST", "/v2/pg/test/blobs/uploads/?digest="+d.String(), blob); got != http.StatusCreated {
		t.Fatalf("monolithic upload = %d", got)
	}
	if got := status("HEAD", "/v2/pg/test/blobs/"+d.String(), nil); got != 200 {
		t.Fatalf("HEAD of the pushed blob = %d", got)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := status("GET", "/readyz", nil); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with PostgreSQL stopped, want 503", got)
	}
	stop()
}
