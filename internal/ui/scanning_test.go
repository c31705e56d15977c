package ui_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/settings"
)

// TestScanningPage: the administration page of scanning saves the
// scan-all schedule and the system CVE allowlist, starts a scan of
// everything and shows the security summary; without the scanner it
// says so; users other than administrators are refused.
func TestScanningPage(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(o *api.Options, store *sqlstore.Store, _ *settings.Sealer, log *slog.Logger) {
		q := jobs.NewQueue(store, "ui", log)
		sc := &scan.Scanner{Store: store, DB: &vulndb.Manager{Dir: dir}, Queue: q, Log: log}
		sc.Register(q)
		o.Jobs, o.Scan = q, sc
	})
	a := e.browser("admin")
	if resp, body := a.get("/admin/scanning"); resp.StatusCode != 200 || !strings.Contains(body, `id="scan-all"`) ||
		!strings.Contains(body, "Security summary") {
		t.Fatalf("scanning page: %d %s", resp.StatusCode, body)
	}
	a.submit("/admin/scanning", "/admin/scanning", url.Values{"action": {"schedule"}, "type": {"Custom"}, "cron": {"0 0 3 * * *"}})
	_, body := a.get("/admin/scanning")
	if !strings.Contains(body, "Schedule saved.") || !strings.Contains(body, `value="0 0 3 * * *"`) ||
		!strings.Contains(body, `<option value="Custom" selected>`) {
		t.Fatalf("schedule not saved: %s", body)
	}
	a.submit("/admin/scanning", "/admin/scanning", url.Values{"action": {"allowlist"}, "cves": {"CVE-2024-0001\nCVE-2024-0002"},
		"expires": {"2030-01-31"}})
	_, body = a.get("/admin/scanning")
	if !strings.Contains(body, "CVE allowlist saved.") || !strings.Contains(body, "CVE-2024-0001\nCVE-2024-0002") ||
		!strings.Contains(body, `value="2030-01-31"`) {
		t.Fatalf("allowlist not saved: %s", body)
	}
	a.submit("/admin/scanning", "/admin/scanning", url.Values{"action": {"allowlist"}, "cves": {"x"}, "expires": {"soon"}})
	if _, body := a.get("/admin/scanning"); !strings.Contains(body, "The expiry date must be YYYY-MM-DD.") {
		t.Fatal("a bad expiry date was not refused")
	}
	a.submit("/admin/scanning", "/admin/scanning", url.Values{"action": {"run"}})
	if _, body := a.get("/admin/scanning"); !strings.Contains(body, "Scan of all artifacts started.") || !strings.Contains(body, "Latest run") {
		t.Fatalf("scan all: %s", body)
	}
	e.user("bob", false)
	if resp, _ := e.browser("bob").get("/admin/scanning"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("scanning page as a user: %d, want 403", resp.StatusCode)
	}
	// Without the scanner.
	if _, body := newEnv(t).browser("admin").get("/admin/scanning"); !strings.Contains(body, "Scanning is not running on this server.") {
		t.Fatalf("page without the scanner: %s", body)
	}
}
