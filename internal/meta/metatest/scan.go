package metatest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// RunScan is the suite for meta.ScanStore. open returns a fresh, empty
// store.
func RunScan(t *testing.T, open func(t *testing.T) meta.ScanStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s meta.ScanStore)
	}{
		{"Catalogues", testScanCatalogues},
		{"Reports", testScanReports},
		{"VulnDBAndAllowlist", testScanVulnDB},
		{"UnscannedSince", testScanUnscanned},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testScanCatalogues(t *testing.T, s meta.ScanStore) {
	ctx := t.Context()
	if _, _, err := s.Catalogue(ctx, "sha256:a"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("missing catalogue: %v", err)
	}
	for _, d := range []digest.Digest{"sha256:b", "sha256:a", "sha256:c"} {
		if err := s.PutCatalogue(ctx, d, 1, []byte(`{"v":"`+d.String()+`"}`), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutCatalogue(ctx, "sha256:a", 2, []byte(`{"v":2}`), nil); err != nil {
		t.Fatal(err)
	}
	if an, data, err := s.Catalogue(ctx, "sha256:a"); err != nil || an != 2 || string(data) != `{"v":2}` {
		t.Fatalf("catalogue = %d %s %v", an, data, err)
	}
	page, err := s.CataloguedDigests(ctx, "", 2)
	if err != nil || len(page) != 2 || page[0] != "sha256:a" || page[1] != "sha256:b" {
		t.Fatalf("page 1 = %v %v", page, err)
	}
	if page, _ = s.CataloguedDigests(ctx, page[1], 2); len(page) != 1 || page[0] != "sha256:c" {
		t.Fatalf("page 2 = %v", page)
	}

	// Lineage: base (l1,l2) under mid (l1,l2,l3) under app (l1,l2,l3,l4);
	// other (l1,lx) shares only a layer; twin has app's layers.
	for d, ls := range map[digest.Digest][]digest.Digest{
		"sha256:base": {"l1", "l2"}, "sha256:mid": {"l1", "l2", "l3"}, "sha256:app": {"l1", "l2", "l3", "l4"},
		"sha256:other": {"l1", "lx"}, "sha256:twin": {"l1", "l2", "l3", "l4"},
	} {
		if err := s.PutCatalogue(ctx, d, 1, []byte(`{}`), ls); err != nil {
			t.Fatal(err)
		}
	}
	for d, want := range map[digest.Digest]digest.Digest{"sha256:app": "sha256:mid", "sha256:mid": "sha256:base", "sha256:base": "", "sha256:other": ""} {
		if got, n, err := s.BaseImage(ctx, d); err != nil || got != want || (want != "" && n != map[digest.Digest]int{"sha256:mid": 3, "sha256:base": 2}[want]) {
			t.Errorf("base of %s = %s (%d layers), %v; want %s", d, got, n, err, want)
		}
	}
	// Rewriting a list replaces it: mid loses a layer and is no prefix.
	if err := s.PutCatalogue(ctx, "sha256:mid", 1, []byte(`{}`), []digest.Digest{"l9"}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.BaseImage(ctx, "sha256:app"); got != "sha256:base" {
		t.Errorf("base of app after mid changed = %s", got)
	}
}

func testScanReports(t *testing.T, s meta.ScanStore) {
	ctx := t.Context()
	start := time.UnixMilli(time.Now().UnixMilli())
	r := &meta.ScanReport{Digest: "sha256:a", ReportID: "r1", Status: meta.JobPending, ExecutionID: 7}
	if err := s.PutScanReport(ctx, r); err != nil {
		t.Fatal(err)
	}
	r2 := &meta.ScanReport{Digest: "sha256:b", ReportID: "r2", Status: meta.JobSuccess, HasResult: true, VulnDB: "sha256:db",
		Severity: "High", Total: 2, Fixable: 1, Summary: []byte(`{"High":2}`), Findings: []byte(`[1,2]`), StartTime: start, EndTime: start}
	if err := s.PutScanReport(ctx, r2); err != nil {
		t.Fatal(err)
	}
	got, err := s.ScanReports(ctx, []digest.Digest{"sha256:a", "sha256:b", "sha256:x"})
	if err != nil || len(got) != 2 {
		t.Fatalf("reports = %v %v", got, err)
	}
	if a := got["sha256:a"]; a.Status != meta.JobPending || a.HasResult || a.ExecutionID != 7 || string(a.Findings) != "[]" {
		t.Fatalf("a = %+v", a)
	}
	if b := got["sha256:b"]; !b.HasResult || b.Severity != "High" || b.Total != 2 || string(b.Summary) != `{"High":2}` || !b.StartTime.Equal(start) {
		t.Fatalf("b = %+v", b)
	}
	r.Status, r.ReportID = meta.JobSuccess, "r3"
	if err := s.PutScanReport(ctx, r); err != nil {
		t.Fatal(err)
	}
	if byID, err := s.ScanReportByID(ctx, "r3"); err != nil || byID.Digest != "sha256:a" || byID.Status != meta.JobSuccess {
		t.Fatalf("by id = %+v %v", byID, err)
	}
	if _, err := s.ScanReportByID(ctx, "r1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("replaced id: %v", err)
	}
	vuln, err := s.VulnerableReports(ctx, "", 10)
	if err != nil || len(vuln) != 1 || vuln[0].Digest != "sha256:b" {
		t.Fatalf("vulnerable = %+v %v", vuln, err)
	}
	sb := &meta.ScanSBOM{Digest: "sha256:a", ReportID: "s1", Status: meta.JobSuccess, SBOMDigest: "sha256:s", Repo: "p/r", StartTime: start,
		MediaType: "application/spdx+json"}
	if err := s.PutScanSBOM(ctx, sb); err != nil {
		t.Fatal(err)
	}
	sboms, err := s.ScanSBOMs(ctx, "p/r", []digest.Digest{"sha256:a", "sha256:b"})
	if err != nil || len(sboms) != 1 || sboms["sha256:a"].SBOMDigest != "sha256:s" || sboms["sha256:a"].Repo != "p/r" {
		t.Fatalf("sboms = %+v %v", sboms, err)
	}
	if mt := sboms["sha256:a"].MediaType; mt != "application/spdx+json" {
		t.Fatalf("sbom media type = %q", mt)
	}
	// The same digest in another repository has an SBOM of its own.
	noErr(t, s.PutScanSBOM(ctx, &meta.ScanSBOM{Digest: "sha256:a", ReportID: "s2", Status: meta.JobPending, Repo: "p/other"}))
	if sboms, err := s.ScanSBOMs(ctx, "p/other", []digest.Digest{"sha256:a"}); err != nil || sboms["sha256:a"].ReportID != "s2" {
		t.Fatalf("other repository's sbom = %+v %v", sboms, err)
	}
	if sboms, _ := s.ScanSBOMs(ctx, "p/r", []digest.Digest{"sha256:a"}); sboms["sha256:a"].ReportID != "s1" || sboms["sha256:a"].SBOMDigest != "sha256:s" {
		t.Fatalf("first repository's sbom changed: %+v", sboms["sha256:a"])
	}
}

func testScanVulnDB(t *testing.T, s meta.ScanStore) {
	ctx := t.Context()
	if _, err := s.VulnDB(ctx); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("no db: %v", err)
	}
	at := time.UnixMilli(time.Now().UnixMilli())
	for i, want := range []bool{true, false} {
		changed, err := s.SetVulnDB(ctx, meta.VulnDBState{Digest: "sha256:1", UpdatedAt: at, ImportedAt: at})
		if err != nil || changed != want {
			t.Fatalf("set %d: %v %v", i, changed, err)
		}
	}
	if changed, _ := s.SetVulnDB(ctx, meta.VulnDBState{Digest: "sha256:2", UpdatedAt: at, ImportedAt: at}); !changed {
		t.Fatal("a new digest did not change")
	}
	if st, err := s.VulnDB(ctx); err != nil || st.Digest != "sha256:2" || !st.UpdatedAt.Equal(at) {
		t.Fatalf("db = %+v %v", st, err)
	}
	l, err := s.SystemCVEAllowlist(ctx)
	if err != nil || l.ID != 0 || len(l.Items) != 0 || l.Items == nil {
		t.Fatalf("empty allowlist = %+v %v", l, err)
	}
	exp := int64(1767225600)
	if err := s.SetSystemCVEAllowlist(ctx, meta.CVEAllowlist{ExpiresAt: &exp, Items: []string{"CVE-1", "CVE-2"}}); err != nil {
		t.Fatal(err)
	}
	if l, _ = s.SystemCVEAllowlist(ctx); l.ID != 1 || l.ExpiresAt == nil || *l.ExpiresAt != exp || len(l.Items) != 2 {
		t.Fatalf("allowlist = %+v", l)
	}
	if err := s.SetSystemCVEAllowlist(ctx, meta.CVEAllowlist{}); err != nil {
		t.Fatal(err)
	}
	if l, _ = s.SystemCVEAllowlist(ctx); l.ExpiresAt != nil || len(l.Items) != 0 {
		t.Fatalf("cleared allowlist = %+v", l)
	}
}

// testScanUnscanned: artifacts of auto_scan projects without a report,
// pushed since the time given; not those of other projects, even with a
// name that starts alike, nor reported or older ones.
func testScanUnscanned(t *testing.T, ss meta.ScanStore) {
	ctx := t.Context()
	s, ok := ss.(interface {
		meta.Store
		meta.ScanStore
		CreateUser(context.Context, *meta.User) error
		CreateProjectWith(context.Context, *meta.Project, meta.ProjectChange) error
	})
	if !ok {
		t.Fatalf("%T does not keep users, projects and manifests", ss)
	}
	owner := &meta.User{Username: "o", Email: "o@x", PasswordHash: "x"}
	noErr(t, s.CreateUser(ctx, owner))
	for name, md := range map[string]map[string]string{"auto": {"auto_scan": "true"}, "auto-x": {}, "autox": {"auto_scan": "false"}} {
		noErr(t, s.CreateProjectWith(ctx, &meta.Project{Name: name, OwnerID: owner.ID}, meta.ProjectChange{Metadata: md}))
	}
	before := time.Now().Add(-time.Second)
	a := pushImage(t, s, "auto/app", "a", "v1")
	b := pushImage(t, s, "auto/team/svc", "b", "v1")
	pushImage(t, s, "auto-x/app", "c", "v1")
	pushImage(t, s, "autox/app", "d", "v1")
	reported := pushImage(t, s, "auto/done", "e", "v1")
	noErr(t, s.PutScanReport(ctx, &meta.ScanReport{Digest: reported.Digest, ReportID: "r", Status: meta.JobSuccess}))
	got, err := s.UnscannedSince(ctx, before, 10)
	noErr(t, err)
	var names []string
	for _, c := range got {
		names = append(names, c.Repo+"@"+string(c.Digest))
	}
	want := []string{"auto/app@" + string(a.Digest), "auto/team/svc@" + string(b.Digest)}
	if strings.Join(names, " ") != strings.Join(want, " ") && strings.Join(names, " ") != want[1]+" "+want[0] {
		t.Fatalf("unscanned = %v, want %v", names, want)
	}
	if got, _ := s.UnscannedSince(ctx, time.Now().Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("unscanned since later = %+v", got)
	}
}
