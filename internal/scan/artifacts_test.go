package scan

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/scan/scantest"
)

// TestBaseImage: an image made of another's layers plus one has it as
// its base image, with the repositories holding it.
func TestBaseImage(t *testing.T) {
	e := newEnv(t)
	e.install(t, "sha256:db1", dbFixture("3.0.13-1~deb12u1"))
	base := scantest.Layer(t, debianLayer...)
	b := e.putImage(t, "p/debian", base)
	app := e.putImage(t, "p/app", base, scantest.Layer(t, scantest.File{Path: "app", Body: []byte("x")}))
	e.scan(t, b)
	e.scan(t, app)
	l, err := e.sc.BaseImage(t.Context(), app.Digest)
	if err != nil || l == nil || l.Digest != b.Digest || l.Layers != 1 || len(l.Repositories) != 1 || l.Repositories[0] != "p/debian" {
		t.Fatalf("lineage = %+v, %v", l, err)
	}
	if l, _ := e.sc.BaseImage(t.Context(), b.Digest); l != nil {
		t.Fatalf("base of the base = %+v", l)
	}
}

// TestIndex: an index's children are scanned, each with its report, and
// the index's report is their union; a re-match keeps it so.
func TestIndex(t *testing.T) {
	e := newEnv(t)
	e.install(t, "sha256:db1", dbFixture("3.0.13-1~deb12u1"))
	vuln := e.putImage(t, "p/multi", scantest.Layer(t, debianLayer...))
	clean := e.putImage(t, "p/multi", scantest.Layer(t, scantest.File{Path: "etc/os-release", Body: []byte("ID=debian\nVERSION_ID=12\n")}))
	body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]any{
			{"mediaType": vuln.MediaType, "digest": vuln.Digest, "size": vuln.Size, "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
			{"mediaType": clean.MediaType, "digest": clean.Digest, "size": clean.Size, "platform": map[string]string{"os": "linux", "architecture": "arm64"}},
		}})
	parsed, err := oci.ParseManifest("application/vnd.oci.image.index.v1+json", body)
	if err != nil {
		t.Fatal(err)
	}
	idx := &meta.Manifest{Repo: "p/multi", Digest: digest.FromBytes(body), MediaType: parsed.MediaType, Size: int64(len(body)), Body: body, Refs: parsed.Refs}
	if err := e.store.PutManifest(t.Context(), idx, []string{"multi"}); err != nil {
		t.Fatal(err)
	}
	if r := e.scan(t, idx); r.Total != 1 || r.Severity != "High" {
		t.Fatalf("index report = %+v", r)
	}
	rs, _ := e.store.ScanReports(t.Context(), []digest.Digest{vuln.Digest, clean.Digest})
	if rs[vuln.Digest] == nil || rs[vuln.Digest].Total != 1 || rs[clean.Digest] == nil || rs[clean.Digest].Severity != "None" {
		t.Fatalf("children = %+v / %+v", rs[vuln.Digest], rs[clean.Digest])
	}
	e.install(t, "sha256:db2", dbFixture("3.0.10-1"))
	if n, err := e.sc.Rematch(t.Context(), nil); err != nil || n != 3 {
		t.Fatalf("rematch = %d, %v", n, err)
	}
	rs, _ = e.store.ScanReports(t.Context(), []digest.Digest{idx.Digest})
	if r := rs[idx.Digest]; r.Total != 0 || r.Severity != "None" {
		t.Fatalf("index after rematch = %+v", r)
	}
}

// TestEnqueue: scans wait in the queue once per digest, counted per
// project; an unscannable artifact is refused.
func TestEnqueue(t *testing.T) {
	e := newEnv(t)
	q := jobs.NewQueue(e.store, "test", e.sc.Log)
	e.sc.Register(q)
	e.sc.Queue = q
	a := e.putImage(t, "p/a", scantest.Layer(t, debianLayer...))
	b := e.putImage(t, "p/b", scantest.Layer(t, scantest.File{Path: "x", Body: []byte("y")}))
	ctx := t.Context()
	id1, err := e.sc.Enqueue(ctx, Want{ProjectID: 7, Manifest: a, Type: "", Trigger: meta.TriggerEvent})
	if err != nil {
		t.Fatal(err)
	}
	if id2, _ := e.sc.Enqueue(ctx, Want{ProjectID: 7, Manifest: a, Type: "", Trigger: meta.TriggerManual}); id2 != id1 {
		t.Errorf("a pending digest was queued again: %s, %s", id1, id2)
	}
	if _, err := e.sc.Enqueue(ctx, Want{ProjectID: 7, Manifest: b, Type: TypeVulnerability, Trigger: meta.TriggerEvent}); err != nil {
		t.Fatal(err)
	}
	for pid, want := range map[int64]int64{7: 2, 8: 0} {
		if n, err := e.sc.PendingScans(ctx, pid); err != nil || n != want {
			t.Errorf("pending in %d = %d, %v; want %d", pid, n, err, want)
		}
	}
	rs, _ := e.store.ScanReports(ctx, []digest.Digest{a.Digest})
	if r := rs[a.Digest]; r.Status != meta.JobPending || r.ReportID != id1 {
		t.Errorf("report = %+v", r)
	}
	cfg := &meta.Manifest{Repo: "p/a", Digest: "sha256:x", Body: []byte(`{"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json"},"layers":[{}]}`)}
	if _, err := e.sc.Enqueue(ctx, Want{ProjectID: 7, Manifest: cfg, Type: "", Trigger: meta.TriggerManual}); !errors.Is(err, ErrNotScannable) {
		t.Errorf("a chart was queued: %v", err)
	}
}

// TestScanEvent: a finished scan is published with its overview for
// webhooks.
func TestScanEvent(t *testing.T) {
	e := newEnv(t)
	e.install(t, "sha256:db1", dbFixture("3.0.13-1~deb12u1"))
	bus := events.New()
	var got []events.Event
	bus.Subscribe(func(_ context.Context, ev events.Event) { got = append(got, ev) }, events.ScanningCompleted)
	e.sc.Events = bus
	m := e.putImage(t, "p/app", scantest.Layer(t, debianLayer...))
	r := e.scan(t, m)
	e.sc.publish(t.Context(), events.ScanningCompleted, params{Repo: m.Repo, Digest: m.Digest, ReportID: r.ReportID})
	if len(got) != 1 || !got[0].Internal || got[0].Project != "p" {
		t.Fatalf("events = %+v", got)
	}
	d, ok := got[0].Detail.(interface{ EventData() map[string]any })
	if !ok {
		t.Fatalf("detail = %T", got[0].Detail)
	}
	ov := d.EventData()["scan_overview"].(map[string]any)[ReportMime].(map[string]any)
	if ov["severity"] != "High" || ov["scan_status"] != meta.JobSuccess || ov["summary"].(map[string]any)["total"] != 1 {
		t.Fatalf("overview = %+v", ov)
	}
}

// TestCatchUp: artifacts pushed to an auto_scan project whose scan on
// push was lost (no event reached the scanner, as after a crash) are
// queued by the catch-up, once; other projects' are not, nor is an SBOM.
func TestCatchUp(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	q := jobs.NewQueue(e.store, "test", e.sc.Log)
	e.sc.Register(q)
	e.sc.Queue = q
	owner := &meta.User{Username: "o", Email: "o@x", PasswordHash: "x"}
	if err := e.store.CreateUser(ctx, owner); err != nil {
		t.Fatal(err)
	}
	for name, md := range map[string]map[string]string{"auto": {"auto_scan": "true", "auto_sbom_generation": "true"}, "manual": {}} {
		if err := e.store.CreateProjectWith(ctx, &meta.Project{Name: name, OwnerID: owner.ID}, meta.ProjectChange{Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	lost := e.putImage(t, "auto/app", scantest.Layer(t, debianLayer...))
	other := e.putImage(t, "manual/app", scantest.Layer(t, debianLayer...), scantest.Layer(t, scantest.File{Path: "x", Body: []byte("y")}))
	w := &Watch{Scanner: e.sc, Repo: "berth-system/trivy-db"}
	w.catchUp(ctx)
	rs, err := e.store.ScanReports(ctx, []digest.Digest{lost.Digest, other.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if r := rs[lost.Digest]; r == nil || r.Status != meta.JobPending {
		t.Fatalf("lost push: report %+v, want Pending", r)
	}
	if r := rs[other.Digest]; r != nil {
		t.Errorf("a project without auto_scan was scanned: %+v", r)
	}
	w.catchUp(ctx)
	_, n, err := e.store.ListExecutions(ctx, meta.ExecutionQuery{Kind: KindScan, VendorID: -1, ListQuery: meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}})
	if err != nil || n != 1 {
		t.Errorf("scan executions after two catch-ups: %d (%v), want 1 (no SBOM, no second scan)", n, err)
	}
}
