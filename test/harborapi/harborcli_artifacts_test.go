package harborapi

import (
	"slices"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/repository"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestHarborCLIArtifacts replays harbor repo list/view/delete and
// harbor artifact list/view/tags (list, create, delete)/delete on a pushed
// image whose repository name has a slash. harbor-cli passes repository
// names to the go-client as they are (utils.ParseProjectRepo splits at the
// first slash), so a/b goes out encoded once, as a%2Fb, not as the
// a%252Fb Harbor's document asks for.
func TestHarborCLIArtifacts(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	const repo = "team/app"
	dgst := pushImage(t, proj+"/"+repo, "v1")
	pushImage(t, proj+"/"+repo, "v2") // the repository outlives artifact delete, for repo delete
	base := "/projects/" + proj + "/repositories/team%2Fapp"

	t.Run("repo list", func(t *testing.T) {
		// harbor repo list PROJECT — cmd/harbor/root/repository/list.go
		// (defaults --page 1 --page-size 10), pkg/api/repository_handler.go
		// ListRepository.
		r := cli(t, "GET /projects/"+proj+"/repositories?page=1&page_size=10")
		q, sort, page, size := "", "", int64(1), int64(10)
		list := must(c.Repository.ListRepositories(ctx(t), &repository.ListRepositoriesParams{
			ProjectName: proj, Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		r.check()
		if len(list) != 1 || list[0].Name != proj+"/"+repo {
			t.Errorf("repo list: %s", dump(list))
		}
	})

	t.Run("repo view", func(t *testing.T) {
		// harbor repo view PROJECT/REPO — .../repository/view.go, RepoView.
		cli(t, "GET "+base)
		must(c.Repository.GetRepository(ctx(t), &repository.GetRepositoryParams{ProjectName: proj, RepositoryName: repo}))(t)
	})

	t.Run("artifact list", func(t *testing.T) {
		// harbor artifact list PROJECT/REPO — cmd/harbor/root/artifact/list.go
		// (defaults --page 1 --page-size 10), pkg/api/artifact_handler.go
		// ListArtifact: no with_tag or other with_ flags.
		cli(t, "GET "+base+"/artifacts?page=1&page_size=10")
		q, sort, page, size := "", "", int64(1), int64(10)
		list := must(c.Artifact.ListArtifacts(ctx(t), &artifact.ListArtifactsParams{
			ProjectName: proj, RepositoryName: repo, Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		if len(list) != 2 || !slices.ContainsFunc(list, func(a *models.Artifact) bool { return a.Digest == dgst }) {
			t.Errorf("artifact list: %s", dump(list))
		}
	})

	t.Run("artifact view", func(t *testing.T) {
		// harbor artifact view PROJECT/REPO:v1 — .../artifact/view.go,
		// ViewArtifact with withLabels false.
		cli(t, "GET "+base+"/artifacts/v1?with_label=false")
		no := false
		a := must(c.Artifact.GetArtifact(ctx(t), &artifact.GetArtifactParams{
			ProjectName: proj, RepositoryName: repo, Reference: "v1", WithLabel: &no}))(t).Payload
		if a.Digest != dgst {
			t.Errorf("artifact view: digest %s, want %s", a.Digest, dgst)
		}
	})

	t.Run("artifact tags create", func(t *testing.T) {
		// harbor artifact tags create PROJECT/REPO:v1 stable —
		// .../artifact/tags/create.go, CreateTag. models.Tag's times are
		// not pointers, so the zero times go out too.
		cli(t, "POST "+base+`/artifacts/v1/tags {"immutable":false,"name":"stable","pull_time":"`+zeroTime+`","push_time":"`+zeroTime+`"}`)
		must(c.Artifact.CreateTag(ctx(t), &artifact.CreateTagParams{
			ProjectName: proj, RepositoryName: repo, Reference: "v1", Tag: &models.Tag{Name: "stable"}}))(t)
	})

	t.Run("artifact tags list", func(t *testing.T) {
		// harbor artifact tags list PROJECT/REPO:v1 — .../tags/list.go,
		// ListTags without paging.
		r := cli(t, "GET "+base+"/artifacts/v1/tags")
		tags := must(c.Artifact.ListTags(ctx(t), &artifact.ListTagsParams{ProjectName: proj, RepositoryName: repo, Reference: "v1"}))(t).Payload
		r.check()
		if !hasTag(tags, "v1") || !hasTag(tags, "stable") {
			t.Errorf("artifact tags list: %s", dump(tags))
		}
	})

	t.Run("artifact tags delete", func(t *testing.T) {
		// harbor artifact tags delete PROJECT/REPO:v1 stable —
		// .../tags/delete.go, DeleteTag.
		cli(t, "DELETE "+base+"/artifacts/v1/tags/stable")
		must(c.Artifact.DeleteTag(ctx(t), &artifact.DeleteTagParams{ProjectName: proj, RepositoryName: repo, Reference: "v1", TagName: "stable"}))(t)
	})

	t.Run("artifact delete", func(t *testing.T) {
		// harbor artifact delete PROJECT/REPO@DIGEST — .../artifact/delete.go,
		// DeleteArtifact (utils.ParseProjectRepoReference splits at the @).
		cli(t, "DELETE "+base+"/artifacts/"+dgst)
		must(c.Artifact.DeleteArtifact(ctx(t), &artifact.DeleteArtifactParams{ProjectName: proj, RepositoryName: repo, Reference: dgst}))(t)
	})

	t.Run("repo delete", func(t *testing.T) {
		// harbor repo delete PROJECT/REPO — .../repository/delete.go,
		// RepoDelete by name.
		r := cli(t, "DELETE "+base)
		must(c.Repository.DeleteRepository(ctx(t), &repository.DeleteRepositoryParams{ProjectName: proj, RepositoryName: repo}))(t)
		r.check()
		if _, err := c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().WithProjectName(proj).WithRepositoryName(repo)); err == nil {
			t.Error("the repository is still there after repo delete")
		}
	})
}
