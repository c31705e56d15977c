package harborapi

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan_all"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/scanner"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/securityhub"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/system_cve_allowlist"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

	"github.com/berth-registry/berth/internal/scan/scantest"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/test/berthproc"
)

const vulnMime = "application/vnd.security.vulnerability.report; version=1.1"

// scanDB is the fixture database: openssl (Debian 12) fixed in
// 3.0.13-1~deb12u1 (High by Debian), zlib unfixed (Critical for the
// package), and semver/v3 below 3.6.0 (Go).
func scanDB(updated time.Time, opensslFix string, zlib bool) scantest.DB {
	deb := map[string]map[string]vulndb.Advisory{"openssl": {"CVE-2024-0001": {FixedVersion: opensslFix}}}
	if zlib {
		deb["zlib"] = map[string]vulndb.Advisory{"CVE-2023-45853": {Severity: vulndb.SeverityCritical}}
	}
	return scantest.DB{
		UpdatedAt: updated,
		Advisories: map[string]map[string]map[string]vulndb.Advisory{
			"debian 12": deb,
			"go::The Go Vulnerability Database": {"github.com/Masterminds/semver/v3": {
				"GO-2099-0001": {VulnerableVersions: []string{">=3.0.0, <3.6.0"}, PatchedVersions: []string{"3.6.0"}}}},
		},
		Vulnerabilities: map[string]vulndb.Vulnerability{
			"CVE-2024-0001": {Description: "an openssl flaw", VendorSeverity: map[string]vulndb.Severity{"debian": vulndb.SeverityHigh},
				References: []string{"https://security-tracker.debian.org/tracker/CVE-2024-0001"},
				CVSS:       map[string]vulndb.CVSS{"nvd": {V3Vector: "CVSS:3.1/AV:N", V3Score: 7.5}}},
			"CVE-2023-45853": {Severity: "LOW"},
		},
		DataSources: map[string]vulndb.DataSource{"debian 12": {ID: "debian", Name: "Debian Security Tracker", URL: "https://salsa.debian.org/security-tracker-team/security-tracker"}},
	}
}

// pushDB pushes a database layer as Aqua publishes it to berth's default
// --vulndb-ref.
func pushDB(t *testing.T, layer []byte) {
	t.Helper()
	repo := "berth-system/trivy-db"
	cfg := pushBlob(t, repo, vulndb.ConfigMediaType, []byte("{}"))
	l := pushBlob(t, repo, vulndb.LayerMediaType, layer)
	l["annotations"] = map[string]string{"org.opencontainers.image.title": "db.tar.gz"}
	pushManifest(t, repo, "2", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": cfg, "layers": []descriptor{l}})
}

const scanDpkg = `Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Source: zlib
Version: 1:1.2.13.dfsg-1
`

// pushScanImage pushes a Debian 12 image with dpkg packages and a Go
// binary; with whiteout, an upper layer deletes the binary. extra files
// go into its one base layer (an image of its own digest and base).
func pushScanImage(t *testing.T, repo, tag string, whiteout bool, extra ...scantest.File) string {
	t.Helper()
	layers := []descriptor{pushBlob(t, repo, "application/vnd.oci.image.layer.v1.tar+gzip", scantest.Layer(t, append([]scantest.File{
		{Path: "etc/os-release", Body: []byte("ID=debian\nVERSION_ID=\"12\"\n")},
		{Path: "var/lib/dpkg/status", Body: []byte(scanDpkg)},
		{Path: "usr/bin/app", Body: scantest.GoBinary(t), Mode: 0o755}}, extra...)...))}
	if whiteout {
		layers = append(layers, pushBlob(t, repo, "application/vnd.oci.image.layer.v1.tar+gzip", scantest.Layer(t, scantest.File{Path: "usr/bin/.wh.app"})))
	}
	diffs := []string{}
	for _, l := range layers {
		diffs = append(diffs, l["digest"].(string))
	}
	cfgBody, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffs}})
	cfg := pushBlob(t, repo, "application/vnd.oci.image.config.v1+json", cfgBody)
	return pushManifest(t, repo, tag, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": cfg, "layers": layers})["digest"].(string)
}

// overview waits until the artifact's scan overview satisfies ok.
func overview(t *testing.T, c harborClient, proj, repo, ref string, ok func(*models.NativeReportSummary) bool) *models.NativeReportSummary {
	t.Helper()
	var got *models.NativeReportSummary
	await(t, func() (bool, string) {
		a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName(repo).
			WithReference(ref).WithWithScanOverview(ptr(true))))(t).Payload
		o, found := a.ScanOverview[vulnMime]
		got = &o
		return found && ok(got), "scan overview " + dump(a.ScanOverview)
	})
	return got
}

// pullStatus GETs (or HEADs) a manifest on /v2 as the administrator.
func pullStatus(t *testing.T, method, repo, ref string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), method, server(t).URL+"/v2/"+repo+"/manifests/"+ref, nil)
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := loopback.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func setProjectMeta(t *testing.T, c harborClient, proj string, md *models.ProjectMetadata, allow *models.CVEAllowlist) {
	t.Helper()
	must(c.Project.UpdateProject(ctx(t), project.NewUpdateProjectParams().WithProjectNameOrID(proj).
		WithProject(&models.ProjectReq{Metadata: md, CVEAllowlist: allow})))(t)
}

// TestScan: the built-in scanner through Harbor's client: a database
// pushed as Aqua publishes it is picked up; a push to an auto_scan
// project is scanned with exactly the expected findings (a whited-out
// binary contributes none); the report, log, stop, scanners, project
// scanner and system allowlist answer; prevent_vul refuses a GET (not a
// HEAD) with Harbor's 412 until the CVEs are allowlisted; a new database
// re-matches the overview and a broken one is refused; an SBOM is pushed
// as an accessory.
func TestScan(t *testing.T) {
	c := client(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pushDB(t, scantest.DBLayer(t, scanDB(t0, "3.0.13-1~deb12u1", true)))
	dbUpdated := func() string {
		md := must(c.Scanner.GetScannerMetadata(ctx(t), scanner.NewGetScannerMetadataParams().WithRegistrationID("berth-builtin")))(t).Payload
		return md.Properties["harbor.scanner-adapter/vulnerability-database-updated-at"]
	}
	await(t, func() (bool, string) {
		u := dbUpdated()
		return u == "2026-11-01T00:00:00Z", "database updated at " + u
	})

	proj := newProject(t, c)
	setProjectMeta(t, c, proj, &models.ProjectMetadata{AutoScan: ptr("true")}, nil)
	appDigest := pushScanImage(t, proj+"/app", "v1", false)
	pushScanImage(t, proj+"/slim", "v1", true)
	ov := overview(t, c, proj, "app", "v1", func(o *models.NativeReportSummary) bool { return o.ScanStatus == "Success" })
	if ov.Severity != "Critical" || ov.Summary == nil || ov.Summary.Total != 3 || ov.Summary.Fixable != 2 ||
		ov.Summary.Summary["Critical"] != 1 || ov.Summary.Summary["High"] != 1 || ov.Summary.Summary["Unknown"] != 1 || ov.Scanner.Name != "berth" {
		t.Fatalf("overview = %s", dump(ov))
	}
	slim := overview(t, c, proj, "slim", "v1", func(o *models.NativeReportSummary) bool { return o.ScanStatus == "Success" })
	if slim.Summary.Total != 2 {
		t.Errorf("the whited-out binary was reported: %s", dump(slim))
	}

	t.Run("report", func(t *testing.T) {
		add := must(additionClient(t).Artifact.GetVulnerabilitiesAddition(ctx(t), artifact.NewGetVulnerabilitiesAdditionParams().
			WithProjectName(proj).WithRepositoryName("app").WithReference("v1")))(t).Payload
		var rep map[string]struct {
			Severity        string
			Vulnerabilities []struct {
				ID, Package, Version, Severity, Description string
				FixVersion                                  string `json:"fix_version"`
				Links                                       []string
				PreferredCVSS                               struct {
					ScoreV3 float64 `json:"score_v3"`
				} `json:"preferred_cvss"`
			}
		}
		if err := json.Unmarshal([]byte(add), &rep); err != nil {
			t.Fatalf("%v: %s", err, add)
		}
		r := rep[vulnMime]
		got := []string{}
		for _, v := range r.Vulnerabilities {
			got = append(got, v.ID+" "+v.Package+" "+v.Version+" "+v.FixVersion+" "+v.Severity)
		}
		want := []string{"GO-2099-0001 github.com/Masterminds/semver/v3 v3.5.0 3.6.0 Unknown",
			"CVE-2024-0001 libssl3 3.0.11-1~deb12u2 3.0.13-1~deb12u1 High",
			"CVE-2023-45853 zlib1g 1:1.2.13.dfsg-1  Critical"}
		if r.Severity != "Critical" || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if v := r.Vulnerabilities[1]; v.Description != "an openssl flaw" || v.PreferredCVSS.ScoreV3 != 7.5 || len(v.Links) != 1 {
			t.Errorf("details = %+v", v)
		}
	})

	t.Run("lineage", func(t *testing.T) {
		// slim is app plus a layer: app is its base image.
		add := must(additionClient(t).Artifact.GetVulnerabilitiesAddition(ctx(t), artifact.NewGetVulnerabilitiesAdditionParams().
			WithProjectName(proj).WithRepositoryName("slim").WithReference("v1")))(t).Payload
		var rep map[string]struct {
			ExtraAttrs struct {
				BaseImage struct {
					Digest       string
					Layers       int
					Repositories []string
				} `json:"base_image"`
			} `json:"extra_attrs"`
		}
		if err := json.Unmarshal([]byte(add), &rep); err != nil {
			t.Fatal(err)
		}
		if b := rep[vulnMime].ExtraAttrs.BaseImage; b.Digest != appDigest || b.Layers != 1 || len(b.Repositories) != 1 || b.Repositories[0] != proj+"/app" {
			t.Errorf("base image = %+v in %s", b, add)
		}
		q := "base_image=" + appDigest
		l := must(c.Securityhub.ListVulnerabilities(ctx(t), securityhub.NewListVulnerabilitiesParams().WithQ(&q)))(t).Payload
		if len(l) != 2 || l[0].RepositoryName != proj+"/slim" || l[1].RepositoryName != proj+"/slim" {
			t.Errorf("built FROM app: %s", dump(l))
		}
	})

	t.Run("security hub", func(t *testing.T) {
		pid := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj)))(t).Payload.ProjectID
		q := "cve_id=CVE-2024-0001,project_id=" + strconv.Itoa(int(pid))
		list := must(c.Securityhub.ListVulnerabilities(ctx(t), securityhub.NewListVulnerabilitiesParams().WithQ(&q).WithWithTag(ptr(true))))(t)
		if len(list.Payload) != 2 || list.XTotalCount != 2 {
			t.Fatalf("vulnerabilities = %s", dump(list.Payload))
		}
		for _, v := range list.Payload {
			if v.Severity != "High" || v.Package != "libssl3" || v.FixedVersion != "3.0.13-1~deb12u1" || len(v.Tags) != 1 || v.Tags[0] != "v1" ||
				(v.RepositoryName != proj+"/app" && v.RepositoryName != proj+"/slim") || v.CvssV3Score != 7.5 {
				t.Errorf("item = %s", dump(v))
			}
		}
		q = "repository_name=" + proj + "/app,severity=Critical"
		if l := must(c.Securityhub.ListVulnerabilities(ctx(t), securityhub.NewListVulnerabilitiesParams().WithQ(&q)))(t).Payload; len(l) != 1 || l[0].CVEID != "CVE-2023-45853" {
			t.Errorf("critical of app = %s", dump(l))
		}
		// A user who is no member of the project sees none of it.
		u := newUser(t, c)
		q = "project_id=" + strconv.Itoa(int(pid))
		if l := must(clientAs(t, u.Username, userPassword).Securityhub.ListVulnerabilities(ctx(t), securityhub.NewListVulnerabilitiesParams().WithQ(&q)))(t).Payload; len(l) != 0 {
			t.Errorf("an outsider sees %s", dump(l))
		}
		sum := must(c.Securityhub.GetSecuritySummary(ctx(t), securityhub.NewGetSecuritySummaryParams().
			WithWithDangerousCVE(ptr(true)).WithWithDangerousArtifact(ptr(true))))(t).Payload
		if sum.CriticalCnt < 2 || sum.HighCnt < 2 || sum.ScannedCnt < 2 || sum.TotalArtifact < sum.ScannedCnt ||
			len(sum.DangerousCves) == 0 || sum.DangerousCves[0].Severity != "Critical" || len(sum.DangerousArtifacts) == 0 {
			t.Errorf("summary = %s", dump(sum))
		}
	})

	t.Run("scan, log and stop", func(t *testing.T) {
		must(c.Scan.ScanArtifact(ctx(t), scan.NewScanArtifactParams().WithProjectName(proj).WithRepositoryName("app").WithReference("v1")))(t)
		again := overview(t, c, proj, "app", "v1", func(o *models.NativeReportSummary) bool {
			return o.ScanStatus == "Success" && o.ReportID != ov.ReportID
		})
		// The job's log is written when it ends, just after the report.
		await(t, func() (bool, string) {
			log := must(c.Scan.GetReportLog(ctx(t), scan.NewGetReportLogParams().WithProjectName(proj).WithRepositoryName("app").
				WithReference("v1").WithReportID(again.ReportID)))(t).Payload
			return strings.Contains(log, "scanning "+proj+"/app@") && strings.Contains(log, "os debian 12"), "log " + log
		})
		must(c.Scan.StopScanArtifact(ctx(t), scan.NewStopScanArtifactParams().WithProjectName(proj).WithRepositoryName("app").
			WithReference("v1").WithScanType(&models.ScanType{ScanType: "vulnerability"})))(t)
		_, err := c.Scan.ScanArtifact(ctx(t), scan.NewScanArtifactParams().WithProjectName(proj).WithRepositoryName("trivy-db").WithReference("nosuch"))
		if !isStatus(err, 404) {
			t.Errorf("scan of a missing artifact: %v", err)
		}
	})

	t.Run("scanners", func(t *testing.T) {
		list := must(c.Scanner.ListScanners(ctx(t), scanner.NewListScannersParams()))(t).Payload
		if len(list) != 1 || list[0].IsDefault == nil || !*list[0].IsDefault || list[0].UUID != "berth-builtin" || list[0].Health != "healthy" {
			t.Errorf("scanners = %s", dump(list))
		}
		must(c.Scanner.GetScanner(ctx(t), scanner.NewGetScannerParams().WithRegistrationID("berth-builtin")))(t)
		got := must(c.Project.GetScannerOfProject(ctx(t), project.NewGetScannerOfProjectParams().WithProjectNameOrID(proj)))(t).Payload
		if got.UUID != "berth-builtin" {
			t.Errorf("project scanner = %s", dump(got))
		}
		must(c.Project.SetScannerOfProject(ctx(t), project.NewSetScannerOfProjectParams().WithProjectNameOrID(proj).
			WithPayload(&models.ProjectScanner{UUID: ptr("berth-builtin")})))(t)
		must(c.Project.ListScannerCandidatesOfProject(ctx(t), project.NewListScannerCandidatesOfProjectParams().WithProjectNameOrID(proj)))(t)
	})

	t.Run("prevent_vul and allowlists", func(t *testing.T) {
		setProjectMeta(t, c, proj, &models.ProjectMetadata{PreventVul: ptr("true"), Severity: ptr("high")}, nil)
		await(t, func() (bool, string) {
			code, body := pullStatus(t, http.MethodGet, proj+"/app", "v1")
			return code == 412 && strings.Contains(body, `"code":"PROJECTPOLICYVIOLATION"`) &&
				strings.Contains(body, `current image with 3 vulnerabilities cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of \"High\" or higher from running.'`), body
		})
		if code, _ := pullStatus(t, http.MethodHead, proj+"/app", "v1"); code != 200 {
			t.Errorf("HEAD = %d", code)
		}
		// Allowlisting the High and the Critical leaves an Unknown: below High.
		setProjectMeta(t, c, proj, nil, &models.CVEAllowlist{Items: []*models.CVEAllowlistItem{{CVEID: "CVE-2024-0001"}, {CVEID: "CVE-2023-45853"}}})
		if code, body := pullStatus(t, http.MethodGet, proj+"/app", "v1"); code != 200 {
			t.Fatalf("allowlisted GET = %d %s", code, body)
		}
		// The system list, empty, replaces the project's.
		sys := must(c.SystemCVEAllowlist.GetSystemCVEAllowlist(ctx(t), system_cve_allowlist.NewGetSystemCVEAllowlistParams()))(t).Payload
		if len(sys.Items) != 0 {
			t.Errorf("system allowlist = %s", dump(sys))
		}
		setProjectMeta(t, c, proj, &models.ProjectMetadata{ReuseSysCVEAllowlist: ptr("true")}, nil)
		await(t, func() (bool, string) {
			code, body := pullStatus(t, http.MethodGet, proj+"/app", "v1")
			return code == 412, body
		})
		must(c.SystemCVEAllowlist.PutSystemCVEAllowlist(ctx(t), system_cve_allowlist.NewPutSystemCVEAllowlistParams().WithAllowlist(
			&models.CVEAllowlist{Items: []*models.CVEAllowlistItem{{CVEID: "CVE-2024-0001"}, {CVEID: "CVE-2023-45853"}}})))(t)
		if code, body := pullStatus(t, http.MethodGet, proj+"/app", "v1"); code != 200 {
			t.Fatalf("system-allowlisted GET = %d %s", code, body)
		}
		must(c.SystemCVEAllowlist.PutSystemCVEAllowlist(ctx(t), system_cve_allowlist.NewPutSystemCVEAllowlistParams().WithAllowlist(
			&models.CVEAllowlist{Items: []*models.CVEAllowlistItem{}})))(t)
		setProjectMeta(t, c, proj, &models.ProjectMetadata{PreventVul: ptr("false")}, nil)
	})

	t.Run("database swap and refusal", func(t *testing.T) {
		// openssl now fixed below the installed version, zlib gone: only the
		// Go advisory remains, found by re-matching the stored package list.
		pushDB(t, scantest.DBLayer(t, scanDB(t0.Add(24*time.Hour), "3.0.10-1", false)))
		overview(t, c, proj, "app", "v1", func(o *models.NativeReportSummary) bool {
			return o.Summary != nil && o.Summary.Total == 1 && o.Severity == "Unknown"
		})
		if u := dbUpdated(); u != "2026-11-02T00:00:00Z" {
			t.Errorf("database updated at %s", u)
		}
		broken := scanDB(t0.Add(48*time.Hour), "1", true)
		broken.Version = 3
		pushDB(t, scantest.DBLayer(t, broken))
		time.Sleep(time.Second)
		if u := dbUpdated(); u != "2026-11-02T00:00:00Z" {
			t.Errorf("a schema 3 database was installed: %s", u)
		}
	})

	t.Run("berth vulndb import", func(t *testing.T) {
		dir := t.TempDir()
		good, bad := filepath.Join(dir, "db.tar.gz"), filepath.Join(dir, "bad.tar.gz")
		os.WriteFile(good, scantest.DBLayer(t, scanDB(t0.Add(72*time.Hour), "3.0.10-1", false)), 0o600)
		os.WriteFile(bad, []byte("not a database"), 0o600)
		run := func(file string) (string, error) {
			cmd := exec.CommandContext(ctx(t), berthproc.Binary(t), "vulndb", "import", "--url", server(t).URL, file)
			cmd.Env = append(os.Environ(), "BERTH_PASSWORD="+adminPassword)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run(bad); err == nil || !strings.Contains(out, "invalid vulnerability database") {
			t.Errorf("a broken file: %v %s", err, out)
		}
		if out, err := run(good); err != nil {
			t.Fatalf("import: %v %s", err, out)
		}
		await(t, func() (bool, string) {
			u := dbUpdated()
			return u == "2026-11-04T00:00:00Z", "database updated at " + u
		})
	})

	t.Run("scan all", func(t *testing.T) {
		created := must(c.ScanAll.CreateScanAllSchedule(ctx(t), scan_all.NewCreateScanAllScheduleParams().WithSchedule(
			&models.Schedule{Schedule: &models.ScheduleObj{Type: "Manual"}})))(t)
		if !strings.Contains(created.Location, "/api/v2.0/system/scanAll/") {
			t.Errorf("Location = %q", created.Location)
		}
		await(t, func() (bool, string) {
			st := must(c.ScanAll.GetLatestScanAllMetrics(ctx(t), scan_all.NewGetLatestScanAllMetricsParams()))(t).Payload
			return !st.Ongoing && st.Total >= 2 && st.Completed == st.Total && st.Trigger == "Manual", "metrics " + dump(st)
		})
		must(c.ScanAll.UpdateScanAllSchedule(ctx(t), scan_all.NewUpdateScanAllScheduleParams().WithSchedule(
			&models.Schedule{Schedule: &models.ScheduleObj{Type: "Daily", Cron: "0 0 3 * * *"}})))(t)
		sch := must(c.ScanAll.GetScanAllSchedule(ctx(t), scan_all.NewGetScanAllScheduleParams()))(t).Payload
		if sch.Schedule == nil || sch.Schedule.Type != "Daily" {
			t.Errorf("schedule = %s", dump(sch))
		}
		must(c.ScanAll.UpdateScanAllSchedule(ctx(t), scan_all.NewUpdateScanAllScheduleParams().WithSchedule(
			&models.Schedule{Schedule: &models.ScheduleObj{Type: "None"}})))(t)
		must(c.ScanAll.StopScanAll(ctx(t), scan_all.NewStopScanAllParams()))(t)
		if st := must(c.ScanAll.GetLatestScheduledScanAllMetrics(ctx(t), scan_all.NewGetLatestScheduledScanAllMetricsParams()))(t).Payload; st.Total != 0 {
			t.Errorf("scheduled metrics = %s", dump(st))
		}
	})

	t.Run("sbom", func(t *testing.T) {
		must(c.Scan.ScanArtifact(ctx(t), scan.NewScanArtifactParams().WithProjectName(proj).WithRepositoryName("app").
			WithReference("v1").WithScanType(&models.ScanType{ScanType: "sbom"})))(t)
		var a *models.Artifact
		await(t, func() (bool, string) {
			a = must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName("app").
				WithReference("v1").WithWithSbomOverview(ptr(true)).WithWithAccessory(ptr(true))))(t).Payload
			return a.SbomOverview != nil && a.SbomOverview.ScanStatus == "Success" && len(a.Accessories) == 1, "sbom " + dump(a)
		})
		if a.Accessories[0].Type != "sbom.harbor" || a.Accessories[0].Digest != a.SbomOverview.SbomDigest {
			t.Errorf("accessories = %s, overview %s", dump(a.Accessories), dump(a.SbomOverview))
		}
		// The document is CycloneDX, downloadable as the accessory's layer.
		code, body := pullStatus(t, http.MethodGet, proj+"/app", a.SbomOverview.SbomDigest)
		var m struct {
			ArtifactType string `json:"artifactType"`
			Subject      struct{ Digest string }
			Layers       []struct{ MediaType, Digest string }
		}
		if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m.ArtifactType != "application/vnd.goharbor.harbor.sbom.v1" ||
			m.Subject.Digest != appDigest || len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.cyclonedx+json" {
			t.Fatalf("SBOM manifest %d %s", code, body)
		}
		req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, server(t).URL+"/v2/"+proj+"/app/blobs/"+m.Layers[0].Digest, nil)
		req.SetBasicAuth("admin", adminPassword)
		res, err := loopback.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{`"bomFormat":"CycloneDX"`, `"purl":"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64\u0026distro=debian-12"`,
			`"purl":"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12"`, `"name":"github.com/Masterminds/semver/v3"`} {
			if !strings.Contains(string(doc), want) {
				t.Errorf("SBOM lacks %s:\n%.2000s", want, doc)
			}
		}

		// auto_sbom_generation makes one on push.
		setProjectMeta(t, c, proj, &models.ProjectMetadata{AutoSbomGeneration: ptr("true")}, nil)
		pushScanImage(t, proj+"/auto", "v1", true)
		await(t, func() (bool, string) {
			a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName("auto").
				WithReference("v1").WithWithSbomOverview(ptr(true))))(t).Payload
			return a.SbomOverview != nil && a.SbomOverview.ScanStatus == "Success" && a.SbomOverview.SbomDigest != "", "auto sbom " + dump(a.SbomOverview)
		})
	})
}
