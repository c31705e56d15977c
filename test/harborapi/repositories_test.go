package harborapi

import (
	"net/url"
	"slices"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/repository"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestRepositoriesAndArtifacts: a pushed image seen through the API as a
// repository with an artifact and its tags; a tag added and removed, the
// artifact and the repository deleted. The repository name has a slash,
// passed the way Harbor documents it (encoded once by the caller, so that
// it is twice on the wire: a/b → a%252Fb).
func TestRepositoriesAndArtifacts(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	const repo = "team/app"
	dgst := pushImage(t, proj+"/"+repo, "v1")
	enc := url.PathEscape(repo)

	repos := must(c.Repository.ListRepositories(ctx(t), repository.NewListRepositoriesParams().
		WithProjectName(proj)))(t).Payload
	if len(repos) != 1 || repos[0].Name != proj+"/"+repo || repos[0].ArtifactCount != 1 {
		t.Errorf("listRepositories = %+v", repos)
	}
	r := must(c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().
		WithProjectName(proj).WithRepositoryName(enc)))(t).Payload
	if r.Name != proj+"/"+repo || r.CreationTime == nil {
		t.Errorf("getRepository = %+v", r)
	}

	arts := must(c.Artifact.ListArtifacts(ctx(t), artifact.NewListArtifactsParams().
		WithProjectName(proj).WithRepositoryName(enc)))(t).Payload
	if len(arts) != 1 || arts[0].Digest != dgst || arts[0].Size <= 0 || !hasTag(arts[0].Tags, "v1") {
		t.Errorf("listArtifacts = %+v", arts)
	}
	a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().
		WithProjectName(proj).WithRepositoryName(enc).WithReference("v1")))(t).Payload
	if a.Digest != dgst || a.Type != "IMAGE" || a.ManifestMediaType == "" {
		t.Errorf("getArtifact v1 = digest %s type %q manifest_media_type %q", a.Digest, a.Type, a.ManifestMediaType)
	}

	must(c.Artifact.CreateTag(ctx(t), artifact.NewCreateTagParams().
		WithProjectName(proj).WithRepositoryName(enc).WithReference(dgst).WithTag(&models.Tag{Name: "stable"})))(t)
	tags := must(c.Artifact.ListTags(ctx(t), artifact.NewListTagsParams().
		WithProjectName(proj).WithRepositoryName(enc).WithReference(dgst)))(t).Payload
	if !hasTag(tags, "v1") || !hasTag(tags, "stable") {
		t.Errorf("listTags = %+v, want v1 and stable", tags)
	}
	must(c.Artifact.DeleteTag(ctx(t), artifact.NewDeleteTagParams().
		WithProjectName(proj).WithRepositoryName(enc).WithReference(dgst).WithTagName("stable")))(t)
	a = must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().
		WithProjectName(proj).WithRepositoryName(enc).WithReference(dgst)))(t).Payload
	if hasTag(a.Tags, "stable") {
		t.Error("tag stable is still there after deleteTag")
	}

	must(c.Artifact.DeleteArtifact(ctx(t), artifact.NewDeleteArtifactParams().
		WithProjectName(proj).WithRepositoryName(enc).WithReference(dgst)))(t)
	if _, err := c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().
		WithProjectName(proj).WithRepositoryName(enc).WithReference(dgst)); err == nil {
		t.Error("the deleted artifact is still there")
	}

	pushImage(t, proj+"/other", "latest")
	must(c.Repository.DeleteRepository(ctx(t), repository.NewDeleteRepositoryParams().
		WithProjectName(proj).WithRepositoryName("other")))(t)
	if _, err := c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().
		WithProjectName(proj).WithRepositoryName("other")); err == nil {
		t.Error("the deleted repository is still there")
	}
}

func hasTag(tags []*models.Tag, name string) bool {
	return slices.ContainsFunc(tags, func(t *models.Tag) bool { return t.Name == name })
}
