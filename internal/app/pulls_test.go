package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// TestPullsWrittenOnShutdown: pulls made just before shutdown are counted:
// the recorder is drained after the HTTP server, before the store closes.
func TestPullsWrittenOnShutdown(t *testing.T) {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = false
	cfg.AccessLog = false
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a string) { addrc <- a })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	seedImage(t, base, "dev/app")
	for range 3 {
		if st, _, body := call(t, "GET", base+"/v2/dev/app/manifests/base", nil, "", nil); st != 200 {
			t.Fatalf("pull: %d %s", st, body)
		}
	}
	if st, _, _ := call(t, "HEAD", base+"/v2/dev/app/manifests/base", nil, "", nil); st != 200 {
		t.Fatalf("head: %d", st)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(cfg.DataDir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ri, err := st.Repository(context.Background(), "dev/app")
	if err != nil || ri.PullCount != 3 {
		t.Fatalf("pull count after shutdown: %+v %v, want 3", ri, err)
	}
}
