package metrics

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// fullRegistry has every collector berth can register, the scanner's
// vulnerability database age included (through the GaugeFunc hook).
func fullRegistry(t *testing.T) *Registry {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := New("test")
	r.SubscribeEvents(events.New())
	r.RegisterStore(StoreOptions{Store: st, Pools: st.DBStats,
		Capacity: func() (uint64, uint64, error) { return 100, 50, nil }})
	r.RegisterLogins(LoginCounts{Failed: func() int64 { return 0 }, Locked: func() int64 { return 0 }, Refused: func() int64 { return 0 }})
	r.RegisterCertExpiry(func() (time.Time, bool) { return time.Now().Add(time.Hour), true })
	r.GaugeFunc("berth_vulndb_age_seconds", "Age of the vulnerability database.", func() float64 { return 0 })
	return r
}

// exportedNames is every series name the registry can produce: each
// family's name, and a histogram's _bucket, _sum and _count.
func exportedNames(t *testing.T, r *Registry) map[string]bool {
	t.Helper()
	ch := make(chan *prometheus.Desc, 1024)
	go func() { r.reg.Describe(ch); close(ch) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{"up": true} // Prometheus' own, per target
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	return names
}

// metricRef finds the metric names an expression uses: identifiers with
// berth's, Harbor's, the Go runtime's or the process's prefix, or "up",
// outside quoted label values.
var (
	metricRef = regexp.MustCompile(`\b((?:berth|harbor|go|process)_[a-zA-Z0-9_]+|up)\b`)
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

func checkExpr(t *testing.T, where, expr string, names map[string]bool) int {
	t.Helper()
	refs := metricRef.FindAllString(quoted.ReplaceAllString(expr, `""`), -1)
	for _, n := range refs {
		if !names[n] {
			t.Errorf("%s: %q uses %s, which berth does not export", where, expr, n)
		}
	}
	return len(refs)
}

// TestDeployedNamesExist checks that the Grafana dashboard and the alert
// rules only use metric names berth exports.
func TestDeployedNamesExist(t *testing.T) {
	names := exportedNames(t, fullRegistry(t))
	for _, n := range []string{"berth_http_requests_total", "harbor_project_quota_usage_byte", "go_goroutines", "process_resident_memory_bytes"} {
		if !names[n] {
			t.Fatalf("%s not among the exported names", n)
		}
	}
	root := filepath.Join("..", "..", "deploy")

	b, err := os.ReadFile(filepath.Join(root, "grafana", "berth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("berth.json: %v", err)
	}
	if len(dash.Panels) < 10 {
		t.Fatalf("berth.json: %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if checkExpr(t, "panel "+p.Title, tg.Expr, names) == 0 {
				t.Errorf("panel %q: %q uses no metric", p.Title, tg.Expr)
			}
		}
	}

	// The rules file: each expr (one line, or a "|" block).
	b, err = os.ReadFile(filepath.Join(root, "prometheus", "berth-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		expr, ok := strings.CutPrefix(l, "expr:")
		if !ok {
			continue
		}
		if strings.TrimSpace(expr) == "|" {
			expr = ""
			indent := strings.Repeat(" ", len(lines[i])-len(strings.TrimLeft(lines[i], " "))+1)
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], indent) {
				i++
				expr += lines[i] + "\n"
			}
		}
		rules++
		if checkExpr(t, "rule", expr, names) == 0 {
			t.Errorf("rule %q uses no metric", expr)
		}
	}
	if rules != 10 {
		t.Errorf("%d rule expressions found, want 10", rules)
	}
}

// countingStore counts the figures read from a real store.
type countingStore struct {
	meta.MetricsStore
	reads atomic.Int64
}

func (c *countingStore) ProjectFigures(ctx context.Context, limit int) ([]meta.ProjectFigures, error) {
	c.reads.Add(1)
	return c.MetricsStore.ProjectFigures(ctx, limit)
}

// TestScrapeCached checks that scrapes within the TTL read the database
// once, and that concurrent scrapes share that reading.
func TestScrapeCached(t *testing.T) {
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs := &countingStore{MetricsStore: st}
	r := New("test")
	r.RegisterStore(StoreOptions{Store: cs, TTL: time.Hour})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if _, err := r.Gatherer().Gather(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := cs.reads.Load(); n != 1 {
		t.Errorf("80 scrapes within the TTL read the projects %d times, want 1", n)
	}
}

// TestStoreDown: when the database cannot be read the last figures are
// served, the error is counted and harbor_up{component="database"} and
// harbor_health fall to 0.
func TestStoreDown(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProject(ctx, &meta.Project{Name: "p1"}); err != nil {
		t.Fatal(err)
	}
	r := New("test")
	r.RegisterStore(StoreOptions{Store: st, TTL: time.Nanosecond})
	read := func() map[string]float64 {
		fams, err := r.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range fams {
			for _, m := range f.Metric {
				key := f.GetName()
				for _, l := range m.Label {
					key += "," + l.GetValue()
				}
				got[key] = value(m)
			}
		}
		return got
	}
	up := read()
	if up["harbor_up,database"] != 1 || up["harbor_health"] != 1 || up["harbor_project_quota_byte,p1"] != -1 {
		t.Fatalf("with the database: %v", up)
	}
	st.Close()
	down := read()
	if down["harbor_up,database"] != 0 || down["harbor_health"] != 0 || down["harbor_up,core"] != 1 ||
		down["berth_metrics_store_errors_total"] < 1 || down["harbor_project_quota_byte,p1"] != -1 {
		t.Errorf("without the database: up %v health %v core %v errors %v p1 quota %v", down["harbor_up,database"], down["harbor_health"],
			down["harbor_up,core"], down["berth_metrics_store_errors_total"], down["harbor_project_quota_byte,p1"])
	}
}
