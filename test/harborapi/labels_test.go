package harborapi

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/label"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/repository"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// projectID is the id of the project named name.
func projectID(t *testing.T, c harborClient, name string) int64 {
	t.Helper()
	yes := true
	return int64(must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().
		WithProjectNameOrID(name).WithXIsResourceName(&yes)))(t).Payload.ProjectID)
}

// newLabel creates l and returns its id, read from the Location header.
func newLabel(t *testing.T, c harborClient, l *models.Label) int64 {
	t.Helper()
	loc := must(c.Label.CreateLabel(ctx(t), label.NewCreateLabelParams().WithLabel(l)))(t).Location
	var id int64
	if _, err := fmt.Sscanf(loc, "/api/v2.0/labels/%d", &id); err != nil || id <= 0 {
		t.Fatalf("CreateLabel Location %q", loc)
	}
	return id
}

func labelNamesOf(ls []*models.Label) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Name)
	}
	slices.Sort(out)
	return out
}

// TestLabels: global and project labels created, listed, read, changed
// and deleted; added to an artifact and removed; artifacts listed by
// label; a developer may label artifacts but not create project labels.
func TestLabels(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	pid := projectID(t, c, proj)
	const repo = "svc/api"
	enc := url.PathEscape(repo)
	dgst := pushImage(t, proj+"/"+repo, "v1")
	other := pushImage(t, proj+"/"+repo, "v2")

	gname := unique("release")
	g := newLabel(t, c, &models.Label{Name: gname, Description: "released builds", Color: "#48960C", Scope: "g"})
	p := newLabel(t, c, &models.Label{Name: "qa", Description: "passed QA", Color: "#0065AB", Scope: "p", ProjectID: pid})

	gl := must(c.Label.GetLabelByID(ctx(t), label.NewGetLabelByIDParams().WithLabelID(g)))(t).Payload
	if gl.ID != g || gl.Name != gname || gl.Scope != "g" || gl.ProjectID != 0 || gl.Color != "#48960C" ||
		time.Time(gl.CreationTime).IsZero() || time.Time(gl.UpdateTime).IsZero() {
		t.Errorf("GetLabelByID(global) = %s", dump(gl))
	}
	scopeG, scopeP, one := "g", "p", int64(1)
	gs := must(c.Label.ListLabels(ctx(t), label.NewListLabelsParams().WithScope(&scopeG).WithName(&gname)))(t)
	if gs.XTotalCount != 1 || len(gs.Payload) != 1 || gs.Payload[0].ID != g {
		t.Errorf("ListLabels(scope=g, name=%s) = %d %s", gname, gs.XTotalCount, dump(gs.Payload))
	}
	ps := must(c.Label.ListLabels(ctx(t), label.NewListLabelsParams().WithScope(&scopeP).WithProjectID(&pid).
		WithPageSize(&one).WithSort(ptr("-name"))))(t)
	if ps.XTotalCount != 1 || len(ps.Payload) != 1 || ps.Payload[0].ID != p || ps.Payload[0].ProjectID != pid {
		t.Errorf("ListLabels(scope=p) = %d %s", ps.XTotalCount, dump(ps.Payload))
	}
	must(c.Label.UpdateLabel(ctx(t), label.NewUpdateLabelParams().WithLabelID(p).WithLabel(&models.Label{
		Name: "qa-passed", Description: "passed QA", Color: "#F52F52", Scope: "p", ProjectID: pid})))(t)
	if got := must(c.Label.GetLabelByID(ctx(t), label.NewGetLabelByIDParams().WithLabelID(p)))(t).Payload; got.Name != "qa-passed" || got.Color != "#F52F52" {
		t.Errorf("after UpdateLabel: %s", dump(got))
	}
	if _, err := c.Label.CreateLabel(ctx(t), label.NewCreateLabelParams().WithLabel(&models.Label{Name: "qa-passed", Scope: "p", ProjectID: pid})); !isStatus(err, 409) {
		t.Errorf("a second qa-passed: %v, want 409", err)
	}

	for _, id := range []int64{g, p} {
		must(c.Artifact.AddLabel(ctx(t), artifact.NewAddLabelParams().WithProjectName(proj).WithRepositoryName(enc).
			WithReference("v1").WithLabel(&models.Label{ID: id})))(t)
	}
	must(c.Artifact.AddLabel(ctx(t), artifact.NewAddLabelParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference(other).WithLabel(&models.Label{ID: p})))(t)
	if _, err := c.Artifact.AddLabel(ctx(t), artifact.NewAddLabelParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference(dgst).WithLabel(&models.Label{ID: g})); !isStatus(err, 409) {
		t.Errorf("adding a label twice: %v, want 409", err)
	}
	yes := true
	a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference("v1").WithWithLabel(&yes)))(t).Payload
	if got := labelNamesOf(a.Labels); !slices.Equal(got, []string{"qa-passed", gname}) {
		t.Errorf("the artifact's labels: %v", got)
	}
	q := fmt.Sprintf("labels=(%d %d)", g, p)
	arts := must(c.Artifact.ListArtifacts(ctx(t), artifact.NewListArtifactsParams().WithProjectName(proj).WithRepositoryName(enc).
		WithQ(&q).WithWithLabel(&yes)))(t)
	if arts.XTotalCount != 1 || len(arts.Payload) != 1 || arts.Payload[0].Digest != dgst || len(arts.Payload[0].Labels) != 2 {
		t.Errorf("listArtifacts q=%s: %d %s", q, arts.XTotalCount, dump(arts.Payload))
	}
	q = fmt.Sprintf("labels=%d", p)
	if n := must(c.Artifact.ListArtifacts(ctx(t), artifact.NewListArtifactsParams().WithProjectName(proj).WithRepositoryName(enc).
		WithQ(&q)))(t).XTotalCount; n != 2 {
		t.Errorf("listArtifacts q=%s: %d artifacts, want 2", q, n)
	}
	must(c.Artifact.RemoveLabel(ctx(t), artifact.NewRemoveLabelParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference("v1").WithLabelID(p)))(t)
	if _, err := c.Artifact.RemoveLabel(ctx(t), artifact.NewRemoveLabelParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference("v1").WithLabelID(p)); !isStatus(err, 404) {
		t.Errorf("removing it again: %v, want 404", err)
	}

	// A developer labels artifacts, but creates no project label.
	dev := newUser(t, c)
	must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID(proj).WithXIsResourceName(&yes).
		WithProjectMember(&models.ProjectMember{RoleID: 2, MemberUser: &models.UserEntity{Username: dev.Username}})))(t)
	dc := clientAs(t, dev.Username, userPassword)
	if _, err := dc.Label.CreateLabel(ctx(t), label.NewCreateLabelParams().WithLabel(&models.Label{Name: "mine", Scope: "p", ProjectID: pid})); !isStatus(err, 403) {
		t.Errorf("a developer's project label: %v, want 403", err)
	}
	must(dc.Artifact.AddLabel(ctx(t), artifact.NewAddLabelParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference("v1").WithLabel(&models.Label{ID: p})))(t)
	must(dc.Label.GetLabelByID(ctx(t), label.NewGetLabelByIDParams().WithLabelID(g)))(t) // global labels: anyone reads

	// Deleting a label takes it off the artifacts.
	must(c.Label.DeleteLabel(ctx(t), label.NewDeleteLabelParams().WithLabelID(g)))(t)
	must(c.Label.DeleteLabel(ctx(t), label.NewDeleteLabelParams().WithLabelID(p)))(t)
	a = must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference("v1").WithWithLabel(&yes)))(t).Payload
	if len(a.Labels) != 0 {
		t.Errorf("labels after deleting them: %s", dump(a.Labels))
	}
	if _, err := c.Label.GetLabelByID(ctx(t), label.NewGetLabelByIDParams().WithLabelID(g)); !isStatus(err, 404) {
		t.Errorf("a deleted label: %v, want 404", err)
	}
}

// TestAllRepositoriesAndPulls: GET /repositories lists what the caller may
// see; a repository's description is written with PUT; pulls through /v2
// show in pull_count and pull_time within the recorder's second.
func TestAllRepositoriesAndPulls(t *testing.T) {
	c := client(t)
	proj := newProject(t, c) // private
	pid := projectID(t, c, proj)
	const repo = "web"
	dgst := pushImage(t, proj+"/"+repo, "v1")

	q := "name=~" + proj + "/"
	all := must(c.Repository.ListAllRepositories(ctx(t), repository.NewListAllRepositoriesParams().WithQ(&q).
		WithSort(ptr("-creation_time"))))(t)
	if all.XTotalCount != 1 || len(all.Payload) != 1 || all.Payload[0].Name != proj+"/"+repo || all.Payload[0].ProjectID != pid ||
		all.Payload[0].ID == 0 || all.Payload[0].ArtifactCount != 1 {
		t.Fatalf("listAllRepositories as admin: %d %s", all.XTotalCount, dump(all.Payload))
	}
	stranger := newUser(t, c)
	if got := must(clientAs(t, stranger.Username, userPassword).Repository.ListAllRepositories(ctx(t),
		repository.NewListAllRepositoriesParams().WithQ(&q)))(t).Payload; len(got) != 0 {
		t.Errorf("a stranger lists a private project's repositories: %s", dump(got))
	}

	r := must(c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().WithProjectName(proj).WithRepositoryName(repo)))(t).Payload
	r.Description = "The **web** front end"
	must(c.Repository.UpdateRepository(ctx(t), repository.NewUpdateRepositoryParams().WithProjectName(proj).
		WithRepositoryName(repo).WithRepository(r)))(t)
	got := must(c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().WithProjectName(proj).WithRepositoryName(repo)))(t).Payload
	if got.Description != "The **web** front end" || got.ID != all.Payload[0].ID {
		t.Errorf("after updateRepository: %s", dump(got))
	}

	ref, err := name.ParseReference(server(t).Addr+"/"+proj+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := remote.Get(ref, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
			remote.WithTransport(loopback), remote.WithContext(ctx(t))); err != nil {
			t.Fatal(err)
		}
	}
	await(t, func() (bool, string) {
		got := must(c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().WithProjectName(proj).WithRepositoryName(repo)))(t).Payload
		return got.PullCount == 2, "pull_count " + strconv.FormatInt(got.PullCount, 10)
	})
	a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName(repo).WithReference(dgst)))(t).Payload
	if time.Since(time.Time(a.PullTime)) > time.Minute || len(a.Tags) != 1 || time.Since(time.Time(a.Tags[0].PullTime)) > time.Minute {
		t.Errorf("pull times: artifact %v, tags %s", time.Time(a.PullTime), dump(a.Tags))
	}
	pulled := "pull_count=[2~]"
	if n := must(c.Repository.ListAllRepositories(ctx(t), repository.NewListAllRepositoriesParams().WithQ(ptr(q+","+pulled))))(t).XTotalCount; n != 1 {
		t.Errorf("listAllRepositories q=%s: %d", pulled, n)
	}
}

// TestHarborCLILabelsAndRepos replays harbor-cli's commands on project
// labels, artifact labels and repository descriptions (read at d98afec5):
// label create/list with a project, artifact label add/list/delete, repo
// update.
func TestHarborCLILabelsAndRepos(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	pid := projectID(t, c, proj)
	dgst := pushImage(t, proj+"/app", "v1")
	base := "/projects/" + proj + "/repositories/app"
	gname := unique("cli-global")
	g := newLabel(t, c, &models.Label{Name: gname, Color: "#FFFFFF", Scope: "g"})
	defer c.Label.DeleteLabel(ctx(t), label.NewDeleteLabelParams().WithLabelID(g))
	isName, isID := true, false

	t.Run("label create --scope p --project ID", func(t *testing.T) {
		// cmd/harbor/root/labels/create.go: the project checked by id
		// (GetProject with useProjectID), then CreateLabel.
		cli(t, idPath("GET /projects/%d [X-Is-Resource-Name: false]", pid),
			`POST /labels {"color":"#FFFFFF","creation_time":"`+zeroTime+`","description":"project label","name":"stage","project_id":`+
				strconv.FormatInt(pid, 10)+`,"scope":"p","update_time":"`+zeroTime+`"}`)
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: strconv.FormatInt(pid, 10), XIsResourceName: &isID}))(t)
		must(c.Label.CreateLabel(ctx(t), &label.CreateLabelParams{Label: &models.Label{
			Name: "stage", Color: "#FFFFFF", Scope: "p", Description: "project label", ProjectID: pid}}))(t)
	})

	var stage int64
	t.Run("label list --project NAME", func(t *testing.T) {
		// cmd/harbor/root/labels/list.go: GetProjectIDFromName, then
		// ListLabel with scope p (defaults --page 1 --page-size 20).
		r := cli(t, "GET /projects/"+proj+" [X-Is-Resource-Name: true]",
			idPath("GET /labels?page=1&page_size=20&project_id=%d&scope=p", pid))
		id := int64(must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: proj, XIsResourceName: &isName}))(t).Payload.ProjectID)
		page, size, q, sort, scope := int64(1), int64(20), "", "", "p"
		list := must(c.Label.ListLabels(ctx(t), &label.ListLabelsParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort,
			Scope: &scope, ProjectID: &id}))(t).Payload
		r.check()
		if stage = labelID(list, "stage"); stage == 0 || len(list) != 1 {
			t.Fatalf("project labels: %s", dump(list))
		}
	})

	t.Run("artifact label add PROJECT/REPO:v1 NAME", func(t *testing.T) {
		// cmd/harbor/root/artifact/label/add.go: the id by name among the
		// global labels (GetLabelIdByName: page=0&page_size=0), the label
		// (GetLabel), then AddLabelArtifact with the label as read.
		r := cli(t, "GET /labels?page=0&page_size=0&project_id=0&scope=g", idPath("GET /labels/%d", g))
		page, size, q, sort, scope, zero := int64(0), int64(0), "", "", "g", int64(0)
		id := labelID(must(c.Label.ListLabels(ctx(t), &label.ListLabelsParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort,
			Scope: &scope, ProjectID: &zero}))(t).Payload, gname)
		l := must(c.Label.GetLabelByID(ctx(t), &label.GetLabelByIDParams{LabelID: id}))(t).Payload
		r.expect("POST " + base + "/artifacts/v1/labels " + body(l))
		must(c.Artifact.AddLabel(ctx(t), &artifact.AddLabelParams{ProjectName: proj, RepositoryName: "app", Reference: "v1", Label: l}))(t)
	})

	t.Run("artifact label list PROJECT/REPO:v1", func(t *testing.T) {
		// cmd/harbor/root/artifact/label/list.go: ViewArtifact with labels.
		r := cli(t, "GET "+base+"/artifacts/v1?with_label=true")
		yes := true
		a := must(c.Artifact.GetArtifact(ctx(t), &artifact.GetArtifactParams{ProjectName: proj, RepositoryName: "app",
			Reference: "v1", WithLabel: &yes}))(t).Payload
		r.check()
		if len(a.Labels) != 1 || a.Labels[0].ID != g || a.Digest != dgst {
			t.Errorf("artifact labels: %s", dump(a.Labels))
		}
	})

	t.Run("artifact label delete PROJECT/REPO:v1 NAME", func(t *testing.T) {
		// cmd/harbor/root/artifact/label/delete.go: the id by name, then
		// RemoveLabelArtifact.
		r := cli(t, "GET /labels?page=0&page_size=0&project_id=0&scope=g")
		page, size, q, sort, scope, zero := int64(0), int64(0), "", "", "g", int64(0)
		id := labelID(must(c.Label.ListLabels(ctx(t), &label.ListLabelsParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort,
			Scope: &scope, ProjectID: &zero}))(t).Payload, gname)
		r.expect(idPath("DELETE "+base+"/artifacts/v1/labels/%d", id))
		must(c.Artifact.RemoveLabel(ctx(t), &artifact.RemoveLabelParams{ProjectName: proj, RepositoryName: "app", Reference: "v1", LabelID: id}))(t)
	})

	t.Run("repo update PROJECT/REPO --description D", func(t *testing.T) {
		// cmd/harbor/root/repository/update.go: RepoView, then
		// UpdateRepository with the repository as read and the new
		// description (pkg/api/repository_handler.go).
		r := cli(t, "GET "+base)
		old := must(c.Repository.GetRepository(ctx(t), &repository.GetRepositoryParams{ProjectName: proj, RepositoryName: "app"}))(t).Payload
		upd := &models.Repository{ID: old.ID, Name: old.Name, ProjectID: old.ProjectID, Description: "updated by harbor-cli",
			ArtifactCount: old.ArtifactCount, PullCount: old.PullCount, CreationTime: old.CreationTime, UpdateTime: old.UpdateTime}
		r.expect("PUT " + base + " " + body(upd))
		must(c.Repository.UpdateRepository(ctx(t), &repository.UpdateRepositoryParams{ProjectName: proj, RepositoryName: "app", Repository: upd}))(t)
		r.check()
		if got := must(c.Repository.GetRepository(ctx(t), &repository.GetRepositoryParams{ProjectName: proj, RepositoryName: "app"}))(t).Payload; got.Description != "updated by harbor-cli" {
			t.Errorf("description %q", got.Description)
		}
	})

	t.Run("label delete --project NAME stage", func(t *testing.T) {
		// cmd/harbor/root/labels/delete.go: GetProjectIDFromName, the id
		// by name among the project's labels, then DeleteLabel.
		r := cli(t, "GET /projects/"+proj+" [X-Is-Resource-Name: true]",
			idPath("GET /labels?page=0&page_size=0&project_id=%d&scope=p", pid), idPath("DELETE /labels/%d", stage))
		id := int64(must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: proj, XIsResourceName: &isName}))(t).Payload.ProjectID)
		page, size, q, sort, scope := int64(0), int64(0), "", "", "p"
		lid := labelID(must(c.Label.ListLabels(ctx(t), &label.ListLabelsParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort,
			Scope: &scope, ProjectID: &id}))(t).Payload, "stage")
		must(c.Label.DeleteLabel(ctx(t), &label.DeleteLabelParams{LabelID: lid}))(t)
		r.check()
	})
}
