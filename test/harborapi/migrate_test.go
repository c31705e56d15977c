package harborapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/label"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/retention"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/migrate"
	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/distserver"
)

// TestMigrate: berth migrate from a second berth (a harbor source) with
// two projects: the projects with their quota, members that exist,
// labels, immutability and retention rules, and their artifacts, digests
// unchanged; a second run changes nothing and succeeds.
func TestMigrate(t *testing.T) {
	c := client(t)
	old := berthproc.StartEnv(t, t.TempDir(), []string{"BERTH_ADMIN_PASSWORD=" + adminPassword}, "--auth=true")
	cs := clientOf(t, old.URL)
	yes := true
	a, b := unique("miga"), unique("migb")
	limit := int64(1 << 30)
	must(cs.Project.CreateProject(ctx(t), project.NewCreateProjectParams().WithProject(&models.ProjectReq{ProjectName: a,
		StorageLimit: &limit, Metadata: &models.ProjectMetadata{Public: "true"}})))(t)
	must(cs.Project.CreateProject(ctx(t), project.NewCreateProjectParams().WithProject(&models.ProjectReq{ProjectName: b})))(t)
	// A member known to both, one only to the old registry.
	both, gone := unique("user"), unique("user")
	for _, cl := range []harborClient{cs, c} {
		must(cl.User.CreateUser(ctx(t), user.NewCreateUserParams().WithUserReq(&models.UserCreationReq{
			Username: both, Email: both + "@example.com", Realname: both, Password: userPassword})))(t)
	}
	must(cs.User.CreateUser(ctx(t), user.NewCreateUserParams().WithUserReq(&models.UserCreationReq{
		Username: gone, Email: gone + "@example.com", Realname: gone, Password: userPassword})))(t)
	for _, u := range []string{both, gone} {
		must(cs.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().WithProjectNameOrID(a).WithXIsResourceName(&yes).
			WithProjectMember(&models.ProjectMember{RoleID: 3, MemberUser: &models.UserEntity{Username: u}})))(t)
	}
	pa := must(cs.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(a).WithXIsResourceName(&yes)))(t).Payload
	must(cs.Label.CreateLabel(ctx(t), label.NewCreateLabelParams().WithLabel(&models.Label{Name: "qa", Scope: "p", ProjectID: int64(pa.ProjectID)})))(t)
	must(cs.Immutable.CreateImmuRule(ctx(t), immutable.NewCreateImmuRuleParams().WithProjectNameOrID(a).WithXIsResourceName(&yes).
		WithImmutableRule(immutableRuleModel("v*", "**"))))(t)
	must(cs.Retention.CreateRetention(ctx(t), retention.NewCreateRetentionParams().
		WithPolicy(retentionPolicyModel(int64(pa.ProjectID), "latestPushedK", 5, "**", "0 0 3 * * *"))))(t)
	digests := map[string]string{}
	for _, ref := range []string{a + "/app:v1", a + "/team/svc:v2", b + "/tool:latest"} {
		img, _ := random.Image(1024, 1)
		r, _ := name.ParseReference(old.Addr+"/"+ref, name.Insecure)
		if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
			remote.WithTransport(loopback)); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		digests[ref] = d.String()
	}

	opt := migrate.Options{From: migrate.Endpoint{URL: old.URL, User: "admin", Password: adminPassword},
		To: migrate.Endpoint{URL: server(t).URL, User: "admin", Password: adminPassword}, Projects: []string{a, b},
		Poll: 200 * time.Millisecond}
	var out bytes.Buffer
	opt.Progress = &out
	rep, err := migrate.Run(ctx(t), opt)
	if err != nil || rep.Failed() || len(rep.Projects) != 2 {
		t.Fatalf("migrate: %v %+v\n%s", err, rep, out.String())
	}
	ra := rep.Projects[0]
	if !ra.Created || ra.Members != 1 || ra.MembersSkipped != 1 || ra.Labels != 1 || ra.Immutable != 1 || !ra.Retention || ra.Repositories != 2 {
		t.Errorf("report of %s: %+v\n%s", a, ra, out.String())
	}
	if !strings.Contains(out.String(), "2/2 repositories copied") {
		t.Errorf("progress:\n%s", out.String())
	}
	for ref, d := range digests {
		if got := berthHead(t, ref); got != d {
			t.Errorf("%s: %q, want %s", ref, got, d)
		}
	}
	na := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(a).WithXIsResourceName(&yes)))(t).Payload
	if na.Metadata.Public != "true" || na.Metadata.RetentionID == nil || *na.Metadata.RetentionID == "" {
		t.Errorf("migrated project: %s", dump(na))
	}
	rules := must(c.Immutable.ListImmuRules(ctx(t), immutable.NewListImmuRulesParams().WithProjectNameOrID(a).WithXIsResourceName(&yes)))(t).Payload
	members := must(c.Member.ListProjectMembers(ctx(t), member.NewListProjectMembersParams().WithProjectNameOrID(a).WithXIsResourceName(&yes)))(t).Payload
	if len(rules) != 1 || len(members) != 2 { // the administrator (creator) and the user known here
		t.Errorf("rules %s, members %s", dump(rules), dump(members))
	}

	// Again: nothing new, still a success.
	out.Reset()
	rep, err = migrate.Run(ctx(t), opt)
	if err != nil || rep.Failed() || rep.Projects[0].Created || rep.Projects[0].Immutable != 0 || rep.Projects[0].Retention {
		t.Fatalf("second run: %v %+v\n%s", err, rep, out.String())
	}
}

// TestMigrateFromRegistry: from a plain OCI registry, repositories are
// grouped into projects by their first path segment.
func TestMigrateFromRegistry(t *testing.T) {
	dist := distserver.Start(t, distserver.Options{User: "dist", Password: "dist-secret"})
	grp := unique("grp")
	digests := map[string]string{}
	for _, ref := range []string{grp + "/app:v1", grp + "/team/svc:v2"} {
		img, _ := random.Image(1024, 1)
		if err := remote.Write(distRef(t, dist, ref), img, remote.WithAuth(&authn.Basic{Username: "dist", Password: "dist-secret"}),
			remote.WithTransport(loopback)); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		digests[ref] = d.String()
	}
	rep, err := migrate.Run(ctx(t), migrate.Options{From: migrate.Endpoint{URL: dist.URL(), User: "dist", Password: "dist-secret"},
		FromType: "docker-registry", To: migrate.Endpoint{URL: server(t).URL, User: "admin", Password: adminPassword},
		Poll: 200 * time.Millisecond})
	if err != nil || rep.Failed() || len(rep.Projects) != 1 || rep.Projects[0].Name != grp || rep.Projects[0].Repositories != 2 {
		t.Fatalf("migrate: %v %+v", err, rep)
	}
	for ref, d := range digests {
		if got := berthHead(t, ref); got != d {
			t.Errorf("%s: %q, want %s", ref, got, d)
		}
	}
}
