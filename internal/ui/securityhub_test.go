package ui_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/catalog"
	"github.com/berth-registry/berth/internal/scan/scantest"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/settings"
)

// vulnFixture is the vulnerability database of the UI's scanning tests:
// openssl (Debian 12) fixed in 3.0.13-1~deb12u1, High by Debian, CVSS v3
// 7.5 by NVD; zlib unfixed, Critical.
var vulnFixture = scantest.DB{
	Advisories: map[string]map[string]map[string]vulndb.Advisory{"debian 12": {
		"openssl": {"CVE-2024-0001": {FixedVersion: "3.0.13-1~deb12u1"}},
		"zlib":    {"CVE-2023-45853": {Severity: vulndb.SeverityCritical}},
	}},
	Vulnerabilities: map[string]vulndb.Vulnerability{
		"CVE-2024-0001": {Description: "an openssl flaw", VendorSeverity: map[string]vulndb.Severity{"debian": vulndb.SeverityHigh},
			References: []string{"https://security-tracker.debian.org/tracker/CVE-2024-0001"},
			CVSS:       map[string]vulndb.CVSS{"nvd": {V3Vector: "CVSS:3.1/AV:N", V3Score: 7.5}}},
		"CVE-2023-45853": {Severity: "LOW"},
	},
	DataSources: map[string]vulndb.DataSource{"debian 12": {ID: "debian", Name: "Debian Security Tracker"}},
}

// The packages of the test images, as the cataloguer lists a Debian
// image's dpkg database.
var (
	libssl = catalog.Package{Type: catalog.TypeDeb, Name: "libssl3", Version: "3.0.11-1~deb12u2", SrcName: "openssl",
		SrcVersion: "3.0.11-1~deb12u2"}
	zlib = catalog.Package{Type: catalog.TypeDeb, Name: "zlib1g", Version: "1:1.2.13.dfsg-1", SrcName: "zlib",
		SrcVersion: "1:1.2.13.dfsg-1"}
)

// withScanner runs the scanner over the fixture database (installed as
// berth installs a pulled one) and sets *out to it.
func withScanner(t testing.TB, out **scan.Scanner) envOption {
	return func(o *api.Options, store *sqlstore.Store, _ *settings.Sealer, log *slog.Logger) {
		q := jobs.NewQueue(store, "ui", log)
		m := &vulndb.Manager{Dir: t.TempDir()}
		layer := scantest.DBLayer(t, vulnFixture)
		if _, err := m.Install(digest.FromBytes(layer).String(), func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(layer)), nil
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		sc := &scan.Scanner{Store: store, DB: m, Queue: q, Log: log}
		sc.Register(q)
		o.Jobs, o.Scan = q, sc
		*out = sc
	}
}

// catalogued stores the package list of image d (Debian 12, its layers
// named by layers) as the scanner's cataloguer stores it; scanAll then
// matches every stored list with the scanner's matcher.
func (e *env) catalogued(d digest.Digest, layers []string, pkgs ...catalog.Package) {
	e.t.Helper()
	b, err := json.Marshal(catalog.Result{OS: catalog.OS{ID: "debian", VersionID: "12"}, Packages: pkgs})
	if err != nil {
		e.t.Fatal(err)
	}
	ls := make([]digest.Digest, len(layers))
	for i, l := range layers {
		ls[i] = digest.FromString(l)
	}
	if err := e.store.PutCatalogue(e.ctx, d, catalog.Version, b, ls); err != nil {
		e.t.Fatal(err)
	}
}

func scanAll(t testing.TB, e *env, sc *scan.Scanner) {
	t.Helper()
	if _, err := sc.Rematch(e.ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// hubRows are the rows of the security hub's table: CVE, severity,
// CVSS, package, version, fixed in, artifact (text, tags included).
func hubRows(t testing.TB, body string) [][]string {
	t.Helper()
	i := strings.Index(body, `<table id="hub">`)
	if i < 0 {
		t.Fatalf("no findings table: %s", body)
	}
	table := body[i : i+strings.Index(body[i:], "</table>")]
	var rows [][]string
	for _, tr := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(table, -1) {
		var cells []string
		for _, td := range regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(tr[1], -1) {
			cells = append(cells, strings.TrimSpace(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(td[1], "")))
		}
		if len(cells) == 7 {
			rows = append(rows, cells)
		}
	}
	return rows
}

// hubEnv: projects team (alice project admin, dev developer) and other
// (nobody), images team/base (zlib), team/app built on it (openssl and
// zlib) and other/secret (openssl), all scanned.
func hubEnv(t *testing.T) (*env, map[string]digest.Digest) {
	var sc *scan.Scanner
	e := newEnv(t, withScanner(t, &sc))
	e.user("alice", false)
	e.user("dev", false)
	e.user("bob", false)
	e.project("team", false, map[string]int{"alice": 1, "dev": 2})
	e.project("other", false, nil)
	ds := map[string]digest.Digest{
		"base": e.push("team/base", nil, "12"), "app": e.push("team/app", nil, "v1"), "secret": e.push("other/secret", nil, "v1"),
	}
	e.catalogued(ds["base"], []string{"debian"}, zlib)
	e.catalogued(ds["app"], []string{"debian", "app"}, libssl, zlib)
	e.catalogued(ds["secret"], []string{"secret"}, libssl)
	scanAll(t, e, sc)
	return e, ds
}

// TestSecurityHubPage: the security hub lists every finding the caller
// may see, with Harbor's columns, filtered by CVE, package, severity,
// project, repository and base image; a user sees only their projects'
// findings; the summary links to it.
func TestSecurityHubPage(t *testing.T) {
	e, ds := hubEnv(t)
	a := e.browser("admin")
	resp, body := a.get("/admin/vulnerabilities")
	if resp.StatusCode != 200 {
		t.Fatalf("hub: %d %s", resp.StatusCode, body)
	}
	rows := hubRows(t, body)
	if len(rows) != 4 {
		t.Fatalf("admin sees %d findings, want 4: %v", len(rows), rows)
	}
	var openssl []string
	for _, r := range rows {
		if r[0] == "CVE-2024-0001" && strings.HasPrefix(r[6], "team/app@") {
			openssl = r
		}
	}
	if want := []string{"CVE-2024-0001", "High", "7.5", "libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1"}; openssl == nil ||
		fmt.Sprint(openssl[:6]) != fmt.Sprint(want) || !strings.Contains(openssl[6], "v1") {
		t.Errorf("openssl row %q, want %q and the tag", openssl, want)
	}
	for _, want := range []string{`href="/projects/team/repositories/app/artifacts/` + string(ds["app"]) + `"`,
		`href="https://security-tracker.debian.org/tracker/CVE-2024-0001"`, `id="hub-filter"`, `aria-current="page">Security hub<`} {
		if !strings.Contains(body, want) {
			t.Errorf("hub page lacks %s", want)
		}
	}

	count := func(b *browser, q url.Values) ([][]string, string) {
		t.Helper()
		resp, body := b.get("/admin/vulnerabilities?" + q.Encode())
		if resp.StatusCode != 200 {
			t.Fatalf("hub %v: %d %s", q, resp.StatusCode, body)
		}
		return hubRows(t, body), body
	}
	for _, c := range []struct {
		q    url.Values
		want []string // CVE and artifact repository of each row
	}{
		{url.Values{"cve": {"CVE-2024-0001"}}, []string{"CVE-2024-0001 team/app", "CVE-2024-0001 other/secret"}},
		{url.Values{"package": {"zlib1g"}}, []string{"CVE-2023-45853 team/app", "CVE-2023-45853 team/base"}},
		{url.Values{"severity": {"Critical"}}, []string{"CVE-2023-45853 team/app", "CVE-2023-45853 team/base"}},
		{url.Values{"project": {"other"}}, []string{"CVE-2024-0001 other/secret"}},
		{url.Values{"repository": {"team/base"}}, []string{"CVE-2023-45853 team/base"}},
		{url.Values{"project": {"team"}, "repository": {"app"}}, []string{"CVE-2023-45853 team/app", "CVE-2024-0001 team/app"}},
		{url.Values{"repository": {"app"}}, nil},
		{url.Values{"base_image": {"team/base:12"}}, []string{"CVE-2023-45853 team/app", "CVE-2024-0001 team/app"}},
		{url.Values{"base_image": {string(ds["base"])}, "severity": {"High"}}, []string{"CVE-2024-0001 team/app"}},
		{url.Values{"project": {"team"}, "cve": {"CVE-2024-0001"}}, []string{"CVE-2024-0001 team/app"}},
		{url.Values{"cve": {"CVE-1999-0000"}}, nil},
	} {
		rows, body := count(a, c.q)
		var got []string
		for _, r := range rows {
			repo, _, _ := strings.Cut(r[6], "@")
			got = append(got, r[0]+" "+repo)
		}
		if fmt.Sprint(slices.Sorted(slices.Values(got))) != fmt.Sprint(slices.Sorted(slices.Values(c.want))) {
			t.Errorf("filter %v: %v, want %v", c.q, got, c.want)
		}
		if c.want == nil && !strings.Contains(body, "No vulnerability matches these filters.") {
			t.Errorf("filter %v: no empty-result message", c.q)
		}
	}
	// Bad filters: a clear message, no finding, never an error page.
	for q, msg := range map[string]string{
		"cve=" + url.QueryEscape(`CVE",x`):          "without quotes",
		"cve=" + strings.Repeat("x", 300):           "at most 256 characters",
		"severity=Awful":                            "Choose a severity.",
		"project=nothere":                           "No such project.",
		"base_image=team%2Fbase%3Anope":             "No such base image.",
		"base_image=justaname":                      "A base image is a digest",
		"package=" + url.QueryEscape("a,b=c{d}%zz"): "No vulnerability matches these filters.",
	} {
		resp, body := a.get("/admin/vulnerabilities?" + q)
		if resp.StatusCode != 200 || !strings.Contains(body, msg) || len(hubRows(t, body)) != 0 {
			t.Errorf("%s: %d, want the message %q and no row", q, resp.StatusCode, msg)
		}
	}

	// A project admin of team sees team's findings only; other, which
	// they may not see, is "no such project".
	al := e.browser("alice")
	rows, body = count(al, url.Values{})
	if len(rows) != 3 || strings.Contains(body, "other/secret") {
		t.Errorf("alice sees %v", rows)
	}
	if strings.Contains(body, `href="/admin/users"`) {
		t.Error("a user sees the administration tabs")
	}
	if rows, body := count(al, url.Values{"project": {"other"}}); len(rows) != 0 || !strings.Contains(body, "No such project.") {
		t.Errorf("alice filtering on other: %v", rows)
	}
	if rows, _ := count(al, url.Values{"cve": {"CVE-2024-0001"}}); len(rows) != 1 || !strings.HasPrefix(rows[0][6], "team/app@") {
		t.Errorf("alice's CVE-2024-0001: %v", rows)
	}
	if rows, body := count(e.browser("bob"), url.Values{}); len(rows) != 0 || !strings.Contains(body, "No vulnerabilities.") {
		t.Errorf("bob sees %v", rows)
	}
	// Signed out: the sign-in form.
	if resp, body := e.browser("").get("/admin/vulnerabilities"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, `id="principal"`) {
		t.Errorf("signed out: %d", resp.StatusCode)
	}

	// The summary links to the hub, and its CVEs to their findings.
	_, body = a.get("/admin/scanning")
	if !strings.Contains(body, `href="/admin/vulnerabilities" id="hub-link"`) ||
		!strings.Contains(body, `href="/admin/vulnerabilities?cve=CVE-2023-45853"`) {
		t.Errorf("summary without links to the hub: %s", body)
	}
	// The project's Security tab links to its findings.
	if _, body := al.get("/projects/team/security"); !strings.Contains(body, `href="/admin/vulnerabilities?project=team"`) {
		t.Error("no link from the Security tab to the project's findings")
	}

	// The base image's page links to the findings of the images built on it.
	if _, body := a.get("/projects/team/repositories/base/artifacts/" + string(ds["base"])); !strings.Contains(body,
		`href="/admin/vulnerabilities?base_image=`+strings.Replace(string(ds["base"]), ":", "%3a", 1)+`" id="built-on"`) {
		t.Errorf("no link from the artifact page to the images built on it: %s", body[strings.Index(body, "h-vulns"):][:600])
	}

	// Without the scanner.
	if _, body := newEnv(t).browser("admin").get("/admin/vulnerabilities"); !strings.Contains(body, "Scanning is not running on this server.") {
		t.Fatalf("hub without the scanner: %s", body)
	}
}

// TestSecurityHubPaging: pages of 15 findings, the pager's links keep the
// filters, and the last page holds the rest.
func TestSecurityHubPaging(t *testing.T) {
	var sc *scan.Scanner
	e := newEnv(t, withScanner(t, &sc))
	e.project("many", false, nil)
	for i := range 9 {
		d := e.push("many/app", nil, fmt.Sprintf("v%d", i))
		e.catalogued(d, []string{fmt.Sprint(i)}, libssl, zlib)
	}
	scanAll(t, e, sc)
	a := e.browser("admin")
	_, body := a.get("/admin/vulnerabilities?project=many")
	if rows := hubRows(t, body); len(rows) != 15 {
		t.Fatalf("first page: %d rows", len(rows))
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body)
	if next == nil || !strings.Contains(next[1], "project=many") || !strings.Contains(next[1], "page=2") {
		t.Fatalf("next link %v", next)
	}
	_, body = a.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if rows := hubRows(t, body); len(rows) != 3 || strings.Contains(body, `rel="next"`) {
		t.Errorf("second page: %d rows", len(rows))
	}
}

// TestProjectAllowlist: a project admin sets the project's CVE allowlist
// (ids, expiry) and whether the system's applies instead; a developer
// sees it read-only and cannot change it; bad input is refused with a
// message; a user outside the project does not see the tab.
func TestProjectAllowlist(t *testing.T) {
	e, _ := hubEnv(t)
	al := e.browser("alice")
	const to = "/projects/team/security"
	_, body := al.get(to)
	if !strings.Contains(body, `id="save-allowlist"`) || !strings.Contains(body, `id="allow-project" name="source" value="project" checked`) {
		t.Fatalf("allowlist form: %s", body)
	}
	al.submit(to, to+"/allowlist", url.Values{"source": {"project"}, "cves": {"CVE-2024-0001\nCVE-2024-0002"}, "expires": {"2030-01-31"}})
	_, body = al.get(to)
	if !strings.Contains(body, "CVE allowlist saved.") || !strings.Contains(body, ">CVE-2024-0001\nCVE-2024-0002</textarea>") ||
		!strings.Contains(body, `value="2030-01-31"`) {
		t.Fatalf("allowlist not saved: %s", body)
	}
	p, err := e.store.GetProjectByName(e.ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := e.store.ProjectSettings(e.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l := ps[p.ID].CVEAllowlist; fmt.Sprint(l.Items) != "[CVE-2024-0001 CVE-2024-0002]" || l.ExpiresAt == nil || *l.ExpiresAt != 1896048000 ||
		ps[p.ID].Metadata["reuse_sys_cve_allowlist"] != "false" {
		t.Errorf("stored %+v, metadata %v", l, ps[p.ID].Metadata)
	}

	// The system list instead: the project's own is kept, the system's shown.
	e.browser("admin").submit("/admin/scanning", "/admin/scanning", url.Values{"action": {"allowlist"}, "cves": {"CVE-2020-1111"}})
	al.submit(to, to+"/allowlist", url.Values{"source": {"system"}, "cves": {"CVE-2024-0001"}})
	_, body = al.get(to)
	if !strings.Contains(body, `id="allow-system" name="source" value="system" checked`) || !strings.Contains(body, "CVE-2020-1111") ||
		!strings.Contains(body, `value=""`) {
		t.Errorf("system allowlist not chosen: %s", body)
	}

	// Refused input: a clear message, nothing changed.
	for form, msg := range map[string]url.Values{
		"The expiry date must be YYYY-MM-DD.": {"source": {"project"}, "cves": {"CVE-1"}, "expires": {"soon"}},
		"duplicate CVE ID":                    {"source": {"project"}, "cves": {"CVE-1\nCVE-1"}},
	} {
		al.submit(to, to+"/allowlist", msg)
		if _, body := al.get(to); !strings.Contains(body, form) || !strings.Contains(body, `value="system" checked`) {
			t.Errorf("%v: no message %q", msg, form)
		}
	}

	// A developer: read-only.
	dv := e.browser("dev")
	_, body = dv.get(to)
	if strings.Contains(body, `id="save-allowlist"`) || strings.Contains(body, `name="cves"`) ||
		!strings.Contains(body, `id="allowlist-view"`) || !strings.Contains(body, "The system allowlist") || !strings.Contains(body, "CVE-2020-1111") {
		t.Errorf("developer's view: %s", body)
	}
	csrf := dv.csrf(to)
	resp, _ := dv.post(to+"/allowlist", url.Values{"csrf": {csrf}, "source": {"project"}, "cves": {"CVE-9"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("developer's post: %d", resp.StatusCode)
	}
	if _, body := dv.get(to); strings.Contains(body, "CVE allowlist saved.") {
		t.Error("a developer changed the allowlist")
	}
	if ps, _ := e.store.ProjectSettings(e.ctx, p.ID); ps[p.ID].Metadata["reuse_sys_cve_allowlist"] != "true" {
		t.Error("a developer changed the allowlist source")
	}
	// Outside the project: not found.
	if resp, _ := e.browser("bob").get(to); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob's Security tab: %d", resp.StatusCode)
	}
}
