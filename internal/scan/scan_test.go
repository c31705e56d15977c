package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/pullstats"
	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/scantest"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// countingBlobs counts the layer reads.
type countingBlobs struct {
	blob.Store
	opens atomic.Int64
}

func (c *countingBlobs) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	c.opens.Add(1)
	return c.Store.Open(ctx, d)
}

type env struct {
	store *sqlstore.Store
	blobs *countingBlobs
	sc    *Scanner
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fsb, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &countingBlobs{Store: fsb}
	m := &vulndb.Manager{Dir: t.TempDir()}
	t.Cleanup(func() { m.Close() })
	return &env{store: st, blobs: b, sc: &Scanner{Store: st, Blobs: b, DB: m, Log: slog.New(slog.DiscardHandler)}}
}

func (e *env) install(t testing.TB, name string, f scantest.DB) {
	t.Helper()
	layer := scantest.DBLayer(t, f)
	if _, err := e.sc.DB.Install(name, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }); err != nil {
		t.Fatal(err)
	}
}

// putBlob stores b in repo.
func (e *env) putBlob(t testing.TB, repo string, b []byte) oci.Descriptor {
	t.Helper()
	ctx := t.Context()
	d := digest.FromBytes(b)
	id := blob.NewUploadID()
	w, err := e.blobs.Append(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Commit(ctx, id, d, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CommitBlob(ctx, repo, d, int64(len(b)), ""); err != nil {
		t.Fatal(err)
	}
	return oci.Descriptor{Digest: d, Size: int64(len(b))}
}

// putImage stores an image of layers in repo and returns its manifest.
func (e *env) putImage(t testing.TB, repo string, layers ...[]byte) *meta.Manifest {
	t.Helper()
	cfg := e.putBlob(t, repo, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	cfg.MediaType = "application/vnd.oci.image.config.v1+json"
	doc := map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest, "config": cfg}
	var ls []oci.Descriptor
	for _, l := range layers {
		d := e.putBlob(t, repo, l)
		d.MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
		ls = append(ls, d)
	}
	doc["layers"] = ls
	body, _ := json.Marshal(doc)
	parsed, err := oci.ParseManifest(oci.MediaTypeImageManifest, body)
	if err != nil {
		t.Fatal(err)
	}
	m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: parsed.MediaType, Size: int64(len(body)), Body: body, Refs: parsed.Refs}
	if err := e.store.PutManifest(t.Context(), m, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	return m
}

func dbFixture(fix string) scantest.DB {
	return scantest.DB{
		Advisories:      map[string]map[string]map[string]vulndb.Advisory{"debian 12": {"openssl": {"CVE-2024-0001": {FixedVersion: fix}}}},
		Vulnerabilities: map[string]vulndb.Vulnerability{"CVE-2024-0001": {VendorSeverity: map[string]vulndb.Severity{"debian": vulndb.SeverityHigh}}},
		DataSources:     map[string]vulndb.DataSource{"debian 12": {ID: "debian"}},
	}
}

var debianLayer = []scantest.File{
	{Path: "etc/os-release", Body: []byte("ID=debian\nVERSION_ID=\"12\"\n")},
	{Path: "var/lib/dpkg/status", Body: []byte("Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n")},
}

func (e *env) scan(t *testing.T, m *meta.Manifest) *meta.ScanReport {
	t.Helper()
	st, err := e.sc.catalogue(t.Context(), nil, m.Repo, m.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sc.matchAndStore(t.Context(), m.Digest, st, newReportID(), time.Now()); err != nil {
		t.Fatal(err)
	}
	rs, _ := e.store.ScanReports(t.Context(), []digest.Digest{m.Digest})
	return rs[m.Digest]
}

// TestRematchWithoutLayers: a database swap changes the report through
// the stored package list, with no layer read; a list that cannot be
// matched does not stop the others.
func TestRematchWithoutLayers(t *testing.T) {
	e := newEnv(t)
	e.install(t, "sha256:db1", dbFixture("3.0.13-1~deb12u1"))
	m := e.putImage(t, "p/app", scantest.Layer(t, debianLayer...))
	r := e.scan(t, m)
	if r.Total != 1 || r.Severity != "High" || r.Status != meta.JobSuccess || r.VulnDB != "sha256:db1" {
		t.Fatalf("report = %+v", r)
	}
	// A Red Hat image whose content sets the database does not know
	// cannot be matched: the others still are.
	rhel, _ := json.Marshal(stored{Result: catalog.Result{OS: catalog.OS{ID: "rhel", VersionID: "9.4"}, Packages: []catalog.Package{
		{Type: catalog.TypeRPM, Name: "bash", Version: "5.1.8-9.el9", BuildInfoRef: 1}},
		BuildInfos: []catalog.BuildInfo{{ContentSets: []string{"unknown-rpms"}}}}})
	if err := e.store.PutCatalogue(t.Context(), digest.FromString("rhel"), catalog.Version, rhel, nil); err != nil {
		t.Fatal(err)
	}
	opens := e.blobs.opens.Load()
	e.install(t, "sha256:db2", dbFixture("3.0.10-1"))
	n, err := e.sc.Rematch(t.Context(), nil)
	if err != nil || n != 1 {
		t.Fatalf("rematch = %d, %v", n, err)
	}
	rs, _ := e.store.ScanReports(t.Context(), []digest.Digest{m.Digest})
	if r := rs[m.Digest]; r.Total != 0 || r.Severity != "None" || r.VulnDB != "sha256:db2" || r.ReportID == "" {
		t.Fatalf("after rematch = %+v", r)
	}
	if got := e.blobs.opens.Load(); got != opens {
		t.Fatalf("the re-match read %d layers", got-opens)
	}
}

// TestPolicy: prevent_vul refuses above the threshold with Harbor's
// message, lets berth's own pulls through, judges a digest being scanned
// again on its last result, and treats unscanned ones as configured.
func TestPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.install(t, "sha256:db1", dbFixture("3.0.13-1~deb12u1"))
	owner := &meta.User{Username: "o", Email: "o@x", PasswordHash: "x"}
	if err := e.store.CreateUser(ctx, owner); err != nil {
		t.Fatal(err)
	}
	u, _ := e.store.GetUserByName(ctx, "o")
	for name, md := range map[string]map[string]string{"p": {"prevent_vul": "true", "severity": "high"}, "q": {"prevent_vul": "false"}} {
		if err := e.store.CreateProjectWith(ctx, &meta.Project{Name: name, OwnerID: u.ID}, meta.ProjectChange{Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	var audited []meta.AuditRecord
	pol := &Policy{Store: e.store, Log: e.sc.Log, Audit: func(_ context.Context, r meta.AuditRecord) { audited = append(audited, r) }}
	if err := pol.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	m := e.putImage(t, "p/app", scantest.Layer(t, debianLayer...))
	mq := e.putImage(t, "q/app", scantest.Layer(t, debianLayer...))
	check := func(ctx context.Context, m *meta.Manifest) string {
		t.Helper()
		msg, err := pol.CheckPull(ctx, m.Repo, m)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	if msg := check(ctx, m); msg != "" {
		t.Fatalf("unscanned, allowed by default: %q", msg)
	}
	pol.BlockUnscanned = true
	if msg := check(ctx, m); !strings.HasPrefix(msg, "current image without vulnerability scanning cannot be pulled") {
		t.Fatalf("unscanned, blocked: %q", msg)
	}
	e.scan(t, m)
	e.scan(t, mq)
	want := `current image with 1 vulnerabilities cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of "High" or higher from running.' To continue with pull, please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist.`
	if msg := check(ctx, m); msg != want {
		t.Fatalf("vulnerable: %q", msg)
	}
	if len(audited) != 2 || audited[1].Operation != "pull" || !strings.Contains(audited[1].Resource, "prevent_vul") || audited[1].Project != "p" {
		t.Fatalf("audit = %+v", audited)
	}
	for name, c := range map[string]context.Context{"internal": events.WithInternal(ctx), "uncounted": pullstats.Uncounted(ctx)} {
		if msg := check(c, m); msg != "" {
			t.Errorf("%s pull refused: %q", name, msg)
		}
	}
	if msg := check(ctx, mq); msg != "" {
		t.Errorf("project without prevent_vul: %q", msg)
	}
	// Clean with a newer database; a rescan in progress keeps the verdict.
	e.install(t, "sha256:db2", dbFixture("3.0.10-1"))
	if _, err := e.sc.Rematch(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rs, _ := e.store.ScanReports(ctx, []digest.Digest{m.Digest})
	r := rs[m.Digest]
	r.Status = meta.JobRunning
	if err := e.store.PutScanReport(ctx, r); err != nil {
		t.Fatal(err)
	}
	if msg := check(ctx, m); msg != "" {
		t.Errorf("a clean digest being rescanned was refused: %q", msg)
	}
}

// BenchmarkRematch10000 is the figure: 10,000 stored package
// lists (41 packages each) matched again after a database change; it
// fails above 30 s.
func BenchmarkRematch10000(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	const n = 10000
	var pkgs []catalog.Package
	for i := range 40 {
		pkgs = append(pkgs, catalog.Package{Type: catalog.TypeDeb, Name: fmt.Sprintf("pkg%d", i), Version: "1.0-1", SrcName: fmt.Sprintf("src%d", i), SrcVersion: "1.0-1"})
	}
	pkgs = append(pkgs, catalog.Package{Type: catalog.TypeDeb, Name: "libssl3", Version: "3.0.11-1~deb12u2", SrcName: "openssl", SrcVersion: "3.0.11-1~deb12u2"})
	body, _ := json.Marshal(stored{Result: catalog.Result{OS: catalog.OS{ID: "debian", VersionID: "12"}, Packages: pkgs}})
	for i := range n {
		if err := e.store.PutCatalogue(ctx, digest.FromString(fmt.Sprint(i)), catalog.Version, body, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		e.install(b, fmt.Sprintf("sha256:db%d", i), dbFixture(fmt.Sprintf("3.0.%d-1", 10+i%2*10)))
		b.StartTimer()
		start := time.Now()
		done, err := e.sc.Rematch(ctx, nil)
		took := time.Since(start)
		if err != nil || done != n {
			b.Fatalf("rematch = %d, %v", done, err)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "lists/s")
		if took > 30*time.Second {
			b.Fatalf("re-match of %d lists took %s, want < 30s", n, took)
		}
	}
}

// BenchmarkScanImage: cataloguing and matching a Debian image with a Go
// binary (about 3 MB of layers) read from the blob store.
// BenchmarkScanImage: scans (catalogue every layer from the blob store,
// match, store) of images the size of the usual bases: Debian 12 (one
// 49 MB layer, 100 dpkg packages) and Alpine 3.19 (3.4 MB, 15 apk
// packages), each with a Go binary in a layer of its own, and the tiny
// image of the earlier figures.
func BenchmarkScanImage(b *testing.B) {
	e := newEnv(b)
	e.install(b, "sha256:db1", dbFixture("3.0.13-1~deb12u1"))
	app := scantest.Layer(b, scantest.File{Path: "usr/bin/app", Body: scantest.GoBinary(b), Mode: 0o755})
	for _, bc := range []struct {
		name   string
		layers [][]byte
	}{
		{"debian", [][]byte{scantest.Layer(b, append(filler(120), scantest.File{Path: "etc/os-release", Body: []byte("ID=debian\nVERSION_ID=\"12\"\n")},
			scantest.File{Path: "var/lib/dpkg/status", Body: dpkgStatus(100)})...), app}},
		{"alpine", [][]byte{scantest.Layer(b, append(filler(8), scantest.File{Path: "etc/os-release", Body: []byte("ID=alpine\nVERSION_ID=3.19.1\n")},
			scantest.File{Path: "lib/apk/db/installed", Body: apkInstalled(15)})...), app}},
		{"tiny", [][]byte{scantest.Layer(b, append([]scantest.File{{Path: "usr/bin/app", Body: scantest.GoBinary(b), Mode: 0o755}}, debianLayer...)...)}},
	} {
		m := e.putImage(b, "p/"+bc.name, bc.layers...)
		var size int
		for _, l := range bc.layers {
			size += len(l)
		}
		// Cold: no layer seen before. Known base: the layer cache has
		// read the base (an earlier image built on it), so only the
		// image's own layer is read.
		for _, warm := range []bool{false, true} {
			name := bc.name
			if warm {
				if len(bc.layers) < 2 {
					continue
				}
				name += "-known-base"
			}
			b.Run(name, func(b *testing.B) {
				base := e.putImage(b, "p/base-"+bc.name, bc.layers[0])
				b.SetBytes(int64(size))
				b.ResetTimer()
				for range b.N {
					e.sc.Layers = nil
					if warm {
						b.StopTimer()
						e.sc.Layers = &catalog.LayerCache{}
						if _, err := e.sc.catalogue(b.Context(), nil, base.Repo, base.Digest); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					st, err := e.sc.catalogue(b.Context(), nil, m.Repo, m.Digest)
					if err != nil {
						b.Fatal(err)
					}
					if err := e.sc.matchAndStore(b.Context(), m.Digest, st, newReportID(), time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Minutes(), "images/min")
			})
		}
	}
}

// filler is n files of 1 MiB that gzip shrinks about as a base image's
// files (2.5:1): 40 % random bytes, the rest text.
func filler(n int) []scantest.File {
	rnd := rand.New(rand.NewChaCha8([32]byte{1}))
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog "), 64)
	var out []scantest.File
	for i := range n {
		var body bytes.Buffer
		for body.Len() < 1<<20 {
			chunk := make([]byte, 1638)
			for j := range chunk {
				chunk[j] = byte(rnd.Uint32())
			}
			body.Write(chunk)
			body.Write(text[:2458])
		}
		out = append(out, scantest.File{Path: fmt.Sprintf("usr/share/filler/%03d", i), Body: body.Bytes()})
	}
	return out
}

// dpkgStatus is a dpkg status file of n packages, libssl3 among them.
func dpkgStatus(n int) []byte {
	var b strings.Builder
	b.WriteString("Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "Package: pkg%d\nStatus: install ok installed\nVersion: 1.%d-1\n\n", i, i)
	}
	return []byte(b.String())
}

// apkInstalled is an apk database of n packages.
func apkInstalled(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "P:pkg%d\nV:1.%d-r0\nA:x86_64\n\n", i, i)
	}
	return []byte(b.String())
}

// TestRedHatImage: a UBI image (go-rpmdb's ubi8-s390x rpm database and a
// content manifest) is scanned with its content sets, and a re-match
// from the stored package list, with no layer read, still applies them:
// the fix filed for another product's CPE is never reported.
func TestRedHatImage(t *testing.T) {
	e := newEnv(t)
	rhDB := func(fix string) scantest.DB {
		return scantest.DB{
			RedHat: map[string]map[string]string{"openssl-libs": {
				"RHSA-2022:5818": `{"Entries":[{"FixedVersion":"` + fix + `","Affected":[1],"Cves":[{"ID":"CVE-2022-1292","Severity":2}]}]}`,
				"RHSA-2099:0001": `{"Entries":[{"FixedVersion":"1:1.1.1k-99.el8","Affected":[3],"Cves":[{"ID":"CVE-2099-0001","Severity":4}]}]}`,
			}},
			RedHatRepositories: map[string][]int{"rhel-8-for-s390x-baseos-rpms": {1}, "rhel-8-for-x86_64-baseos-rpms": {3}},
			Vulnerabilities:    map[string]vulndb.Vulnerability{"CVE-2022-1292": {}},
			DataSources:        map[string]vulndb.DataSource{"Red Hat": {ID: "redhat-oval"}},
		}
	}
	e.install(t, "sha256:db1", rhDB("1:1.1.1k-7.el8_6"))
	m := e.putImage(t, "p/ubi", scantest.Layer(t,
		scantest.File{Path: "etc/os-release", Body: []byte("ID=\"rhel\"\nVERSION_ID=\"8.5\"\n")},
		scantest.File{Path: "var/lib/rpm/Packages", Body: scantest.RPMDB(t, "ubi8-s390x/Packages")},
		scantest.File{Path: "root/buildinfo/content_manifests/ubi8.json", Body: []byte(`{"content_sets":["rhel-8-for-s390x-baseos-rpms"]}`)}))
	r := e.scan(t, m)
	fs := Findings(r)
	if r.Total != 1 || r.Severity != "Medium" || len(fs) != 1 || fs[0].ID != "CVE-2022-1292" || fs[0].Status != "fixed" {
		t.Fatalf("report = %+v, findings %+v", r, fs)
	}
	// Fixed below the installed version now: nothing. Had the content
	// sets been lost, x86_64's default sets would bring CVE-2099-0001.
	e.install(t, "sha256:db2", rhDB("1:1.1.1k-5.el8"))
	if n, err := e.sc.Rematch(t.Context(), nil); err != nil || n != 1 {
		t.Fatalf("rematch = %d, %v", n, err)
	}
	rs, _ := e.store.ScanReports(t.Context(), []digest.Digest{m.Digest})
	if r := rs[m.Digest]; r.Total != 0 || r.VulnDB != "sha256:db2" {
		t.Fatalf("after rematch = %+v %+v", r, Findings(r))
	}
}
