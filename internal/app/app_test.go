package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
)

// TestRunServesAndStops runs the whole wiring in-process: /v2/, /livez and
// /readyz answer, and cancelling the context shuts down cleanly.
func TestRunServesAndStops(t *testing.T) {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = false
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready in 10s")
	}
	for path, want := range map[string]string{"/v2/": "{}", "/livez": "ok\n", "/readyz": "ok\n"} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != want {
			t.Errorf("%s: %d %q", path, res.StatusCode, b)
		}
		if path == "/v2/" && res.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("/v2/ lacks the API version header")
		}
	}
	// The data directory is locked while running.
	err := Run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Run on the same data dir: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
