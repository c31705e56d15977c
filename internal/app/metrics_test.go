package app

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/berth-registry/berth/internal/config"
)

const metricsToken = "metrics-token-0123456789"

// scrape reads /metrics at url with the bearer token (if any) and parses it.
func scrape(t *testing.T, url string, c *creds, bearer string) map[string]*dto.MetricFamily {
	t.Helper()
	status, hdr, body := call(t, "GET", url, c, bearer, nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q, want the Prometheus text format", url, ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams
}

// value is the value of the series of family name whose labels include
// want ("k", "v" pairs); found is false if there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (v float64, found bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func seriesCount(fams map[string]*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

// TestMetrics runs berth with access control and a separate metrics
// listener, and checks access to /metrics, the families and their labels,
// and that requests to many repository names add no series.
func TestMetrics(t *testing.T) {
	port := freePort(t)
	base := authServerWith(t, nil, func(c *config.Config) {
		c.Metrics.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		c.Metrics.Token = metricsToken
		c.Metrics.Cache = time.Second
	})
	admin := &creds{"admin", adminPassword}
	private := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)

	// Access: refused anonymously, with a wrong token or a wrong password
	// on the main listener; a token or an administrator reads it; the
	// separate listener needs nothing.
	for _, c := range []struct {
		name   string
		creds  *creds
		bearer string
	}{{"anonymous", nil, ""}, {"wrong token", nil, metricsToken + "x"}, {"wrong password", &creds{"admin", "nope"}, ""}} {
		if st, hdr, _ := call(t, "GET", base+"/metrics", c.creds, c.bearer, nil); st != http.StatusUnauthorized ||
			!strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: /metrics answered %d (WWW-Authenticate %q), want 401 with a challenge", c.name, st, hdr.Get("WWW-Authenticate"))
		}
	}
	scrape(t, base+"/metrics", nil, metricsToken)
	scrape(t, base+"/metrics", admin, "")
	scrape(t, private, nil, "")

	man := seedImage(t, base, "library/app")
	for range 3 {
		if st, _, body := call(t, "GET", base+"/v2/library/app/manifests/base", admin, "", nil); st != 200 || !bytes.Equal(body, man) {
			t.Fatalf("pull: %d", st)
		}
	}
	// Requests to many repository names, existing or not, through every
	// route kind.
	hit := func(from, to int) {
		for i := from; i < to; i++ {
			repo := fmt.Sprintf("library/repo-%d", i)
			for _, p := range []string{"/manifests/v1", "/blobs/sha256:" + strings.Repeat("a", 64), "/tags/list",
				"/referrers/sha256:" + strings.Repeat("b", 64)} {
				call(t, "GET", base+"/v2/"+repo+p, admin, "", nil)
			}
			call(t, "POST", base+"/v2/"+repo+"/blobs/uploads/", admin, "", nil)
			call(t, "GET", fmt.Sprintf("%s/api/v2.0/projects/p%d", base, i), admin, "", nil)
			call(t, "GET", fmt.Sprintf("%s/no-such-page-%d", base, i), nil, "", nil)
			call(t, "GET", base+"/service/token?service=berth&scope=repository:"+repo+":pull", nil, "", nil)
		}
	}
	hit(0, 20)
	before := seriesCount(scrape(t, private, nil, ""))
	hit(20, 120)
	time.Sleep(1100 * time.Millisecond) // past --metrics-cache: the database figures are read again
	fams := scrape(t, private, nil, "")
	if after := seriesCount(fams); after > before+5 { // a few from the runtime (GC, process) may appear
		t.Errorf("%d series after 100 more repository names, %d before: cardinality grows with names", after, before)
	}

	// HTTP families: only the fixed label values.
	kinds := map[string]bool{"manifest": true, "blob": true, "upload": true, "tags": true, "referrers": true, "catalog": true,
		"token": true, "api": true, "ui": true, "other": true}
	for _, name := range []string{"berth_http_requests_total", "berth_http_request_duration_seconds", "berth_http_request_bytes_total",
		"berth_http_response_bytes_total"} {
		f := fams[name]
		if f == nil {
			t.Fatalf("family %s missing", name)
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				switch l.GetName() {
				case "kind":
					if !kinds[l.GetValue()] {
						t.Errorf("%s: kind %q", name, l.GetValue())
					}
				case "method", "code":
				default:
					t.Errorf("%s: unexpected label %s=%q", name, l.GetName(), l.GetValue())
				}
				if strings.Contains(l.GetValue(), "repo-") || strings.Contains(l.GetValue(), "library") {
					t.Errorf("%s: a label carries a name: %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, k := range []string{"manifest", "blob", "upload", "tags", "referrers", "api", "ui", "token"} {
		if v, ok := value(fams, "berth_http_requests_total", "kind", k); !ok || v == 0 {
			t.Errorf("berth_http_requests_total{kind=%q} missing", k)
		}
	}
	if v, ok := value(fams, "berth_http_requests_total", "kind", "manifest", "method", "GET", "code", "2xx"); !ok || v < 3 {
		t.Errorf("manifest GET 2xx = %v, want at least 3", v)
	}
	if v, _ := value(fams, "berth_http_requests_in_flight"); v < 0 {
		t.Errorf("in flight %v", v)
	}
	if v, _ := value(fams, "berth_http_request_bytes_total", "kind", "upload"); v == 0 {
		t.Error("no request bytes counted for uploads")
	}
	if v, _ := value(fams, "berth_http_response_bytes_total", "kind", "manifest"); v < float64(3*len(man)) {
		t.Errorf("manifest response bytes %v, want at least %d", v, 3*len(man))
	}

	// Registry and database families.
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"berth_artifact_pushes_total", []string{"project", "library"}, 1},
		{"berth_artifact_pulls_total", []string{"project", "library"}, 3},
		{"harbor_project_total", []string{"public", "true"}, 1},
		{"harbor_project_quota_byte", []string{"project_name", "library"}, -1},
		{"harbor_project_quota_usage_byte", []string{"project_name", "library"}, 1},
		{"harbor_project_repo_total", []string{"project_name", "library", "public", "true"}, 1},
		{"harbor_artifact_pulled", []string{"project_name", "library"}, 0},
		{"harbor_project_artifact_total", []string{"project_name", "library"}, 1},
		{"harbor_project_member_total", []string{"project_name", "library"}, 0},
		{"harbor_up", []string{"component", "core"}, 1},
		{"harbor_up", []string{"component", "database"}, 1},
		{"harbor_health", nil, 1},
		{"harbor_statistics_total_storage_consumption", nil, 1},
		{"berth_upload_sessions", nil, 100},
		{"berth_blob_store_objects", nil, 2},
		{"berth_blob_store_bytes", nil, 1},
		{"berth_storage_capacity_bytes", nil, 1},
		{"berth_storage_free_bytes", nil, 0},
		{"berth_gc_last_freed_bytes", nil, 0},
		{"berth_db_open_connections", []string{"pool", "write"}, 0},
		{"berth_db_wait_count_total", []string{"pool", "read"}, 0},
		{"berth_login_failures_total", nil, 1},
		{"berth_login_lockouts_total", nil, 0},
		{"berth_login_refused_total", nil, 0},
		{"berth_build_info", nil, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		v, ok := value(fams, c.name, c.labels...)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %t), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
}

// TestMetricsCertExpiry: with --tls-cert berth exports the seconds left on
// the certificate it serves (24 h for the test CA's), and without
// --auth /metrics on the main listener needs --metrics-token (or
// --metrics-public).
func TestMetricsCertExpiry(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c, k := ca.issue(t, 1)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	cfg := config.Default()
	cfg.Auth.Enabled = false
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	cfg.Metrics.Token = metricsToken
	addr, stop := startApp(t, cfg)
	defer stop()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	get := func(bearer string) (int, []byte) {
		req, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if st, _ := get(""); st != http.StatusUnauthorized {
		t.Errorf("anonymous /metrics without --auth: %d, want 401", st)
	}
	st, body := get(metricsToken)
	if st != 200 {
		t.Fatalf("/metrics with the token: %d", st)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := value(fams, "berth_tls_certificate_expiry_seconds")
	if !ok || v < 23*3600 || v > 24*3600 {
		t.Errorf("berth_tls_certificate_expiry_seconds = %v (present %t), want about 24 h", v, ok)
	}
}
