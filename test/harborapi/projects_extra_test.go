package harborapi

import (
	"strconv"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project_metadata"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestProjectSettings: a project created with metadata, a CVE allowlist
// and a storage limit, read back whole, and its metadata changed through
// updateProject, as Harbor's client sends them.
func TestProjectSettings(t *testing.T) {
	c := client(t)
	name := unique("settings")
	public, limit, expires := false, int64(10<<30), int64(1900000000)
	must(c.Project.CreateProject(ctx(t), project.NewCreateProjectParams().WithProject(&models.ProjectReq{
		ProjectName: name, Public: &public, StorageLimit: &limit,
		Metadata: &models.ProjectMetadata{Public: "false", AutoScan: ptr("true"), Severity: ptr("high"),
			PreventVul: ptr("true"), ReuseSysCVEAllowlist: ptr("false"), EnableContentTrustCosign: ptr("false")},
		CVEAllowlist: &models.CVEAllowlist{ExpiresAt: &expires,
			Items: []*models.CVEAllowlistItem{{CVEID: "CVE-2024-3094"}, {CVEID: "CVE-2021-44228"}}},
	})))(t)

	yes := true
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(name).WithXIsResourceName(&yes)))(t).Payload
	md := p.Metadata
	if md == nil || md.Public != "false" || val(md.AutoScan) != "true" || val(md.Severity) != "high" || val(md.PreventVul) != "true" ||
		val(md.ReuseSysCVEAllowlist) != "false" || val(md.EnableContentTrustCosign) != "false" || md.RetentionID != nil {
		t.Errorf("metadata = %s", dump(md))
	}
	l := p.CVEAllowlist
	if l == nil || l.ID == 0 || l.ProjectID != int64(p.ProjectID) || l.ExpiresAt == nil || *l.ExpiresAt != expires ||
		len(l.Items) != 2 || l.Items[0].CVEID != "CVE-2024-3094" {
		t.Errorf("cve_allowlist = %s", dump(l))
	}
	if p.RegistryID != 0 || p.Deleted || !p.Togglable || p.RepoCount != 0 || p.CurrentUserRoleID != 1 {
		t.Errorf("getProject = %s", dump(p))
	}

	// The metadata of Harbor's client model, changed by updateProject.
	md.AutoSbomGeneration, md.EnableContentTrust, md.ProxySpeedKb = ptr("true"), ptr("false"), ptr("-1")
	md.Severity = ptr("critical")
	id := strconv.Itoa(int(p.ProjectID))
	must(c.Project.UpdateProject(ctx(t), project.NewUpdateProjectParams().WithProjectNameOrID(id).
		WithProject(&models.ProjectReq{Metadata: md, CVEAllowlist: &models.CVEAllowlist{ProjectID: int64(p.ProjectID),
			Items: []*models.CVEAllowlistItem{{CVEID: "CVE-2023-44487"}}}})))(t)
	p = must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(id)))(t).Payload
	if md := p.Metadata; val(md.AutoSbomGeneration) != "true" || val(md.EnableContentTrust) != "false" ||
		val(md.ProxySpeedKb) != "-1" || val(md.Severity) != "critical" || val(md.AutoScan) != "true" {
		t.Errorf("metadata after updateProject = %s", dump(md))
	}
	if l := p.CVEAllowlist; len(l.Items) != 1 || l.Items[0].CVEID != "CVE-2023-44487" || l.ExpiresAt != nil {
		t.Errorf("cve_allowlist after updateProject = %s", dump(l))
	}
	list := must(c.Project.ListProjects(ctx(t), project.NewListProjectsParams().WithName(&name)))(t).Payload
	if len(list) != 1 || val(list[0].Metadata.Severity) != "critical" || len(list[0].CVEAllowlist.Items) != 1 {
		t.Errorf("listProjects = %s", dump(list))
	}

	// An unknown value is refused, not dropped.
	if _, err := c.Project.UpdateProject(ctx(t), project.NewUpdateProjectParams().WithProjectNameOrID(id).
		WithProject(&models.ProjectReq{Metadata: &models.ProjectMetadata{Severity: ptr("severe")}})); !isStatus(err, 400) {
		t.Errorf("updateProject severity=severe: %v, want 400", err)
	}
}

// TestProjectMetadatas: Harbor's projectMetadata operations, one key at a
// time, and who may use them.
func TestProjectMetadatas(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	yes := true
	add := func(c harborClient, k, v string) error {
		_, err := c.ProjectMetadata.AddProjectMetadatas(ctx(t), project_metadata.NewAddProjectMetadatasParams().
			WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetadata(map[string]string{k: v}))
		return err
	}
	if err := add(c, "auto_scan", "true"); err != nil {
		t.Fatal(describe(err))
	}
	if err := add(c, "auto_scan", "false"); !isStatus(err, 409) {
		t.Errorf("addProjectMetadatas of an existing key: %v, want 409", err)
	}
	must(c.ProjectMetadata.AddProjectMetadatas(ctx(t), project_metadata.NewAddProjectMetadatasParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetadata(map[string]string{"severity": "medium"})))(t)

	all := must(c.ProjectMetadata.ListProjectMetadatas(ctx(t), project_metadata.NewListProjectMetadatasParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if len(all) != 3 || all["auto_scan"] != "true" || all["severity"] != "medium" || all["public"] != "false" {
		t.Errorf("listProjectMetadatas = %v", all)
	}
	one := must(c.ProjectMetadata.GetProjectMetadata(ctx(t), project_metadata.NewGetProjectMetadataParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetaName("severity")))(t).Payload
	if len(one) != 1 || one["severity"] != "medium" {
		t.Errorf("getProjectMetadata severity = %v", one)
	}
	must(c.ProjectMetadata.UpdateProjectMetadata(ctx(t), project_metadata.NewUpdateProjectMetadataParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetaName("severity").
		WithMetadata(map[string]string{"severity": "low"})))(t)
	must(c.ProjectMetadata.DeleteProjectMetadata(ctx(t), project_metadata.NewDeleteProjectMetadataParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetaName("auto_scan")))(t)
	all = must(c.ProjectMetadata.ListProjectMetadatas(ctx(t), project_metadata.NewListProjectMetadatasParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if len(all) != 2 || all["severity"] != "low" {
		t.Errorf("after update and delete: %v", all)
	}
	if _, err := c.ProjectMetadata.GetProjectMetadata(ctx(t), project_metadata.NewGetProjectMetadataParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMetaName("auto_scan")); !isStatus(err, 404) {
		t.Errorf("getProjectMetadata of a removed key: %v, want 404", err)
	}

	// A maintainer reads, a developer does not, neither writes.
	maint, dev := newUser(t, c), newUser(t, c)
	for _, m := range []struct {
		u    *models.UserResp
		role int64
	}{{maint, 4}, {dev, 2}} {
		must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID(proj).
			WithXIsResourceName(&yes).WithProjectMember(&models.ProjectMember{RoleID: m.role,
			MemberUser: &models.UserEntity{Username: m.u.Username}})))(t)
	}
	mc, dc := clientAs(t, maint.Username, userPassword), clientAs(t, dev.Username, userPassword)
	must(mc.ProjectMetadata.ListProjectMetadatas(ctx(t), project_metadata.NewListProjectMetadatasParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t)
	if err := add(mc, "prevent_vul", "true"); !isStatus(err, 403) {
		t.Errorf("a maintainer's addProjectMetadatas: %v, want 403", err)
	}
	if _, err := dc.ProjectMetadata.ListProjectMetadatas(ctx(t), project_metadata.NewListProjectMetadatasParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)); !isStatus(err, 403) {
		t.Errorf("a developer's listProjectMetadatas: %v, want 403", err)
	}
}

// TestProjectSummaryDeletableArtifacts: a project's summary and deletable
// status, empty and with images, and the artifacts of all its
// repositories.
func TestProjectSummaryDeletableArtifacts(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	yes := true
	del := must(c.Project.GetProjectDeletable(ctx(t), project.NewGetProjectDeletableParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if !del.Deletable {
		t.Errorf("getProjectDeletable of an empty project = %s", dump(del))
	}
	sum := must(c.Project.GetProjectSummary(ctx(t), project.NewGetProjectSummaryParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if sum.RepoCount != 0 || sum.ProjectAdminCount != 1 || sum.Quota == nil || sum.Quota.Hard["storage"] != -1 ||
		sum.Quota.Used["storage"] != 0 || sum.Registry != nil {
		t.Errorf("getProjectSummary of an empty project = %s", dump(sum))
	}

	d1 := pushImage(t, proj+"/app", "v1")
	d2 := pushImage(t, proj+"/tools/cli", "v2")
	sum = must(c.Project.GetProjectSummary(ctx(t), project.NewGetProjectSummaryParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if sum.RepoCount != 2 || sum.Quota.Used["storage"] <= 0 {
		t.Errorf("getProjectSummary with two images = %s", dump(sum))
	}
	del = must(c.Project.GetProjectDeletable(ctx(t), project.NewGetProjectDeletableParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	if del.Deletable || del.Message == "" {
		t.Errorf("getProjectDeletable with repositories = %s", dump(del))
	}

	arts := must(c.Project.ListArtifactsOfProject(ctx(t), project.NewListArtifactsOfProjectParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t)
	if len(arts.Payload) != 2 || arts.XTotalCount != 2 {
		t.Fatalf("listArtifactsOfProject = %s (X-Total-Count %d)", dump(arts.Payload), arts.XTotalCount)
	}
	repos := map[string]string{}
	var used int64
	for _, a := range arts.Payload {
		repos[a.Digest] = a.RepositoryName
		used += a.Size
		if len(a.Tags) != 1 || a.Type != "IMAGE" {
			t.Errorf("artifact %s = %s", a.Digest, dump(a))
		}
	}
	if repos[d1] != proj+"/app" || repos[d2] != proj+"/tools/cli" {
		t.Errorf("repository_name by digest: %v", repos)
	}
	if sum.Quota.Used["storage"] != used { // two images sharing nothing
		t.Errorf("used storage %d, the artifacts' sizes add up to %d", sum.Quota.Used["storage"], used)
	}
	q, sort, no := "repository_name="+proj+"/tools/cli", "-push_time", false
	arts = must(c.Project.ListArtifactsOfProject(ctx(t), project.NewListArtifactsOfProjectParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithQ(&q).WithSort(&sort).WithWithTag(&no)))(t)
	if len(arts.Payload) != 1 || arts.Payload[0].Digest != d2 || arts.Payload[0].Tags != nil {
		t.Errorf("listArtifactsOfProject q=%s with_tag=false = %s", q, dump(arts.Payload))
	}
	mt := "media_type=" + arts.Payload[0].ManifestMediaType
	arts = must(c.Project.ListArtifactsOfProject(ctx(t), project.NewListArtifactsOfProjectParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithQ(&mt).WithLatestInRepository(&yes)))(t)
	if len(arts.Payload) != 2 {
		t.Errorf("listArtifactsOfProject latest_in_repository = %s", dump(arts.Payload))
	}
}

// TestHarborCLIProjectCommands replays harbor-cli's project create
// --storage-limit, view, summary, config list and config update
// (cmd/harbor/root/project, pkg/api/project_handler.go and
// project_config_handler.go at goharbor/harbor-cli d98afec).
func TestHarborCLIProjectCommands(t *testing.T) {
	c := client(t)
	name := unique("cli")
	// harbor project create NAME --storage-limit 1073741824 (as the
	// administrator: only one may set a limit); RegistryID nil without
	// --proxy-cache.
	public, limit := false, int64(1<<30)
	must(c.Project.CreateProject(ctx(t), &project.CreateProjectParams{Project: &models.ProjectReq{ProjectName: name,
		StorageLimit: &limit, Public: &public, Metadata: &models.ProjectMetadata{Public: strconv.FormatBool(public)}}}))(t)
	// A user's create always sends storage_limit: an empty flag is 0.
	alice := newUser(t, c)
	ac := clientAs(t, alice.Username, userPassword)
	zero := int64(0)
	own := unique("cli")
	must(ac.Project.CreateProject(ctx(t), &project.CreateProjectParams{Project: &models.ProjectReq{ProjectName: own,
		StorageLimit: &zero, Public: &public, Metadata: &models.ProjectMetadata{Public: "false"}}}))(t)

	// harbor project view NAME / harbor project summary NAME.
	useName := true
	view := must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: name, XIsResourceName: &useName}))(t).Payload
	sum := must(c.Project.GetProjectSummary(ctx(t), &project.GetProjectSummaryParams{ProjectNameOrID: name,
		XIsResourceName: &useName}))(t).Payload
	if view.Name != name || view.Metadata.Public != "false" || sum.Quota == nil || sum.Quota.Hard["storage"] != limit ||
		sum.ProjectAdminCount != 1 {
		t.Errorf("view %s, summary %s", dump(view), dump(sum))
	}
	// harbor project summary ID --id.
	byID := false
	must(c.Project.GetProjectSummary(ctx(t), &project.GetProjectSummaryParams{
		ProjectNameOrID: strconv.Itoa(int(view.ProjectID)), XIsResourceName: &byID}))(t)
	mine := must(ac.Project.GetProjectSummary(ctx(t), &project.GetProjectSummaryParams{ProjectNameOrID: own,
		XIsResourceName: &useName}))(t).Payload
	if mine.Quota == nil || mine.Quota.Hard["storage"] != -1 {
		t.Errorf("a user's project summary = %s", dump(mine))
	}

	// harbor project config update NAME --auto-scan true --severity high:
	// GET the project, PUT its metadata back with the flags set.
	conf := view.Metadata
	conf.AutoScan, conf.Severity = ptr("true"), ptr("high")
	must(c.Project.UpdateProject(ctx(t), &project.UpdateProjectParams{ProjectNameOrID: name, XIsResourceName: &useName,
		Project: &models.ProjectReq{Metadata: conf}}))(t)
	// harbor project config list NAME.
	cfg := must(c.ProjectMetadata.ListProjectMetadatas(ctx(t), &project_metadata.ListProjectMetadatasParams{
		ProjectNameOrID: name, XIsResourceName: &useName}))(t).Payload
	if cfg["auto_scan"] != "true" || cfg["severity"] != "high" || cfg["public"] != "false" {
		t.Errorf("config list = %v", cfg)
	}
}

func val(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
