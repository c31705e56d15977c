package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
)

// TestClientClosedRequest: an API request that fails because its client
// went away answers 499 and logs no error (it was a logged 500).
func TestClientClosedRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", Prefix+"/projects", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	var logged bytes.Buffer
	writeError(w, r, slog.New(slog.NewTextHandler(&logged, nil)), fmt.Errorf("listing projects: %w", context.Canceled))
	if w.Code != 499 || logged.Len() != 0 {
		t.Fatalf("%d, logged %q; want 499 and nothing logged", w.Code, logged.String())
	}
}
