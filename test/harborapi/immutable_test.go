package harborapi

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// pushImg pushes img to repo:tag on berth's /v2 as the administrator.
func pushImg(t testing.TB, repo, tag string, img v1.Image) error {
	t.Helper()
	ref, err := name.ParseReference(server(t).Addr+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
		remote.WithTransport(loopback), remote.WithContext(ctx(t)))
}

// immutableRuleModel is a rule as Harbor's UI and the go-client send it.
func immutableRuleModel(tagPattern, repoPattern string) *models.ImmutableRule {
	return &models.ImmutableRule{
		Action: "immutable", Template: "immutable_template", Priority: 0,
		TagSelectors: []*models.ImmutableSelector{{Kind: "doublestar", Decoration: "matches", Pattern: tagPattern}},
		ScopeSelectors: map[string][]models.ImmutableSelector{
			"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: repoPattern}},
		},
	}
}

// TestImmutableRules: Harbor's immutable operations through its client,
// and what a rule does to pushes (go-containerregistry, as crane pushes)
// and to the API's deletes.
func TestImmutableRules(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	yes := true
	repo := proj + "/team/app"

	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := pushImg(t, repo, "v1.0", img); err != nil {
		t.Fatal(err)
	}
	dgst, _ := img.Digest()

	created := must(c.Immutable.CreateImmuRule(ctx(t), immutable.NewCreateImmuRuleParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithImmutableRule(immutableRuleModel("v*", "team/**"))))(t)
	prefix := "/api/v2.0/projects/" + proj + "/immutabletagrules/"
	id, err := strconv.ParseInt(strings.TrimPrefix(created.Location, prefix), 10, 64)
	if !strings.HasPrefix(created.Location, prefix) || err != nil {
		t.Fatalf("CreateImmuRule Location %q", created.Location)
	}
	if _, err := c.Immutable.CreateImmuRule(ctx(t), immutable.NewCreateImmuRuleParams().
		WithProjectNameOrID(proj).WithImmutableRule(immutableRuleModel("v*", "team/**"))); !isStatus(err, 409) {
		t.Errorf("a duplicate rule: %v, want 409", err)
	}
	bad := immutableRuleModel("v*", "team/**")
	bad.TagSelectors[0].Decoration = "matching"
	if _, err := c.Immutable.CreateImmuRule(ctx(t), immutable.NewCreateImmuRuleParams().
		WithProjectNameOrID(proj).WithImmutableRule(bad)); !isStatus(err, 400) {
		t.Errorf("a bad decoration: %v, want 400", err)
	}

	list := must(c.Immutable.ListImmuRules(ctx(t), immutable.NewListImmuRulesParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t)
	if list.XTotalCount != 1 || len(list.Payload) != 1 {
		t.Fatalf("ListImmuRules: total %d, %s", list.XTotalCount, dump(list.Payload))
	}
	r := list.Payload[0]
	if r.ID != id || r.Disabled || r.Action != "immutable" || r.Template != "immutable_template" ||
		len(r.TagSelectors) != 1 || r.TagSelectors[0].Pattern != "v*" || r.TagSelectors[0].Decoration != "matches" ||
		len(r.ScopeSelectors["repository"]) != 1 || r.ScopeSelectors["repository"][0].Pattern != "team/**" {
		t.Errorf("ListImmuRules: %s", dump(r))
	}

	// The rule holds: another image cannot take v1.0 (412, the message
	// says why), the same one can be pushed again, a new v* tag can be
	// created.
	other, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = pushImg(t, repo, "v1.0", other)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 412 || !strings.Contains(err.Error(), "PRECONDITION: the tag "+repo+":v1.0 is configured as immutable") {
		t.Fatalf("pushing another image over v1.0: %v, want a 412 naming immutability", err)
	}
	if err := pushImg(t, repo, "v1.0", img); err != nil {
		t.Fatalf("pushing the same image again: %v", err)
	}
	if err := pushImg(t, repo, "v2.0", other); err != nil {
		t.Fatalf("pushing a new v* tag: %v", err)
	}

	enc := strings.ReplaceAll("team/app", "/", "%2F")
	a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference(dgst.String()).WithWithImmutableStatus(&yes)))(t).Payload
	if len(a.Tags) != 1 || a.Tags[0].Name != "v1.0" || !a.Tags[0].Immutable {
		t.Errorf("GetArtifact with_immutable_status: %s", dump(a.Tags))
	}
	if _, err := c.Artifact.DeleteTag(ctx(t), artifact.NewDeleteTagParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference(dgst.String()).WithTagName("v1.0")); !isStatus(err, 412) {
		t.Errorf("DeleteTag of an immutable tag: %v, want 412", err)
	}
	if _, err := c.Artifact.DeleteArtifact(ctx(t), artifact.NewDeleteArtifactParams().WithProjectName(proj).WithRepositoryName(enc).
		WithReference(dgst.String())); !isStatus(err, 412) {
		t.Errorf("DeleteArtifact under an immutable tag: %v, want 412", err)
	}

	// Disabled (the go-client's way: the whole rule, disabled set), the
	// rule has no effect.
	r.Disabled = true
	must(c.Immutable.UpdateImmuRule(ctx(t), immutable.NewUpdateImmuRuleParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes).WithImmutableRuleID(id).WithImmutableRule(r)))(t)
	if got := must(c.Immutable.ListImmuRules(ctx(t), immutable.NewListImmuRulesParams().WithProjectNameOrID(proj)))(t).Payload; len(got) != 1 || !got[0].Disabled {
		t.Fatalf("after UpdateImmuRule: %s", dump(got))
	}
	if err := pushImg(t, repo, "v1.0", other); err != nil {
		t.Fatalf("pushing over v1.0 with the rule disabled: %v", err)
	}

	must(c.Immutable.DeleteImmuRule(ctx(t), immutable.NewDeleteImmuRuleParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes).WithImmutableRuleID(id)))(t)
	if got := must(c.Immutable.ListImmuRules(ctx(t), immutable.NewListImmuRulesParams().WithProjectNameOrID(proj)))(t).Payload; len(got) != 0 {
		t.Errorf("after DeleteImmuRule: %s", dump(got))
	}
	if _, err := c.Immutable.DeleteImmuRule(ctx(t), immutable.NewDeleteImmuRuleParams().WithProjectNameOrID(proj).
		WithImmutableRuleID(id)); !isStatus(err, 404) {
		t.Errorf("deleting it again: %v, want 404", err)
	}
}
