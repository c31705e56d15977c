package harborapi

import (
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/repository"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestHarborCLIProjects replays harbor project create, list, view, logs,
// summary and delete (with and without --force), in the order a user
// would type them.
func TestHarborCLIProjects(t *testing.T) {
	c := client(t)
	name := unique("cli")
	yes := true

	t.Run("project create", func(t *testing.T) {
		// harbor project create NAME --storage-limit -1 —
		// cmd/harbor/root/project/create.go (name and storage limit given:
		// no form), pkg/api/project_handler.go CreateProject. registry_id
		// is sent only with --proxy-cache.
		cli(t, `POST /projects {"metadata":{"public":"false"},"project_name":"`+name+`","public":false,"storage_limit":-1}`)
		public, limit := false, int64(-1)
		must(c.Project.CreateProject(ctx(t), &project.CreateProjectParams{Project: &models.ProjectReq{
			ProjectName: name, RegistryID: nil, StorageLimit: &limit, Public: &public, Metadata: &models.ProjectMetadata{Public: "false"},
		}}))(t)
	})

	t.Run("project list", func(t *testing.T) {
		// harbor project list — cmd/harbor/root/project/list.go: the
		// default --page-size 0 means all, fetched 100 at a time until a
		// page is short; neither --public nor --private: ListAllProjects,
		// without public= (pkg/api/project_handler.go).
		r := cli(t, "GET /projects?page=1&page_size=100")
		var found bool
		for page := int64(1); page <= 50; page++ {
			if page > 1 {
				r.expect(idPath("GET /projects?page=%d&page_size=100", page))
			}
			q, sort, pname, size := "", "", "", int64(100)
			list := must(c.Project.ListProjects(ctx(t), &project.ListProjectsParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort, Name: &pname}))(t).Payload
			for _, p := range list {
				found = found || p.Name == name
			}
			if len(list) < 100 {
				break
			}
		}
		if !found {
			t.Errorf("project %s not listed", name)
		}
	})

	t.Run("project view", func(t *testing.T) {
		// harbor project view NAME — cmd/harbor/root/project/view.go,
		// pkg/api/project_handler.go GetProject (without --id the header
		// says it is a name).
		cli(t, "GET /projects/"+name+" [X-Is-Resource-Name: true]")
		p := must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: name, XIsResourceName: &yes}))(t).Payload
		if p.Name != name {
			t.Errorf("project view %s: %q", name, p.Name)
		}
	})

	t.Run("project logs", func(t *testing.T) {
		// harbor project logs NAME — cmd/harbor/root/project/logs.go
		// (defaults --page 1 --page-size 10): GetProject to check it
		// exists, then LogsProject, the audit log extension API.
		cli(t, "GET /projects/"+name+" [X-Is-Resource-Name: true]",
			"GET /projects/"+name+"/auditlog-exts?page=1&page_size=10")
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: name, XIsResourceName: &yes}))(t)
		q, sort, page, size := "", "", int64(1), int64(10)
		must(c.Project.GetLogExts(ctx(t), &project.GetLogExtsParams{ProjectName: name, Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t)
	})

	t.Run("project summary", func(t *testing.T) {
		// harbor project summary NAME — cmd/harbor/root/project/summary.go:
		// GetProject, then GetProjectSummary.
		cli(t, "GET /projects/"+name+" [X-Is-Resource-Name: true]",
			"GET /projects/"+name+"/summary [X-Is-Resource-Name: true]")
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: name, XIsResourceName: &yes}))(t)
		must(c.Project.GetProjectSummary(ctx(t), &project.GetProjectSummaryParams{ProjectNameOrID: name, XIsResourceName: &yes}))(t)
	})

	t.Run("project delete", func(t *testing.T) {
		// harbor project delete NAME — cmd/harbor/root/project/delete.go,
		// pkg/api/project_handler.go DeleteProject without --force.
		r := cli(t, "DELETE /projects/"+name+" [X-Is-Resource-Name: true]")
		must(c.Project.DeleteProject(ctx(t), &project.DeleteProjectParams{ProjectNameOrID: name, XIsResourceName: &yes}))(t)
		r.check()
		if _, err := c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(name).WithXIsResourceName(&yes)); !isStatus(err, 404) {
			t.Errorf("after project delete: %v, want 404", err)
		}
	})

	full := newProject(t, c)
	pushImage(t, full+"/team/app", "v1")
	// A rule protecting v1: --force deletes the rules before the
	// repositories, which could not go otherwise (412).
	must(c.Immutable.CreateImmuRule(ctx(t), immutable.NewCreateImmuRuleParams().WithProjectNameOrID(full).
		WithImmutableRule(immutableRuleModel("**", "**"))))(t)
	t.Run("project delete --force", func(t *testing.T) {
		// harbor project delete NAME --force — DeleteProject with
		// forceDelete: the project, its tag immutability rules (each
		// deleted), its repositories (page=0&page_size=0: all; each
		// deleted, the name passed as it is, so a/b goes out as a%2Fb),
		// then the project.
		r := cli(t, "GET /projects/"+full+" [X-Is-Resource-Name: true]",
			"GET /projects/"+full+"/immutabletagrules [X-Is-Resource-Name: true]")
		p := must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: full, XIsResourceName: &yes}))(t).Payload
		rules := must(c.Immutable.ListImmuRules(ctx(t), &immutable.ListImmuRulesParams{ProjectNameOrID: p.Name, XIsResourceName: &yes}))(t).Payload
		if len(rules) != 1 {
			t.Errorf("the project's rules: %s", dump(rules))
		}
		for _, rule := range rules {
			r.expect(idPath("DELETE /projects/"+full+"/immutabletagrules/%d [X-Is-Resource-Name: true]", rule.ID))
			must(c.Immutable.DeleteImmuRule(ctx(t), &immutable.DeleteImmuRuleParams{ProjectNameOrID: p.Name, ImmutableRuleID: rule.ID, XIsResourceName: &yes}))(t)
		}
		r.expect("GET /projects/"+full+"/repositories?page=0&page_size=0",
			"DELETE /projects/"+full+"/repositories/team%2Fapp",
			"DELETE /projects/"+full+" [X-Is-Resource-Name: true]")
		var page, size int64
		var q, sort string
		repos := must(c.Repository.ListRepositories(ctx(t), &repository.ListRepositoriesParams{ProjectName: full, Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		for _, repo := range repos {
			must(c.Repository.DeleteRepository(ctx(t), &repository.DeleteRepositoryParams{ProjectName: full, RepositoryName: repo.Name[len(full)+1:]}))(t)
		}
		must(c.Project.DeleteProject(ctx(t), &project.DeleteProjectParams{ProjectNameOrID: full, XIsResourceName: &yes}))(t)
	})
}

// TestHarborCLIMembers replays harbor project member create, list,
// update and delete.
func TestHarborCLIMembers(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	u := newUser(t, c)
	yes := true

	t.Run("project member create", func(t *testing.T) {
		// harbor project member create PROJECT --username U --roleid 1 —
		// cmd/harbor/root/project/member/create.go: GetProject to check it
		// exists, GetSystemInfo (auth_mode, for the form), then
		// pkg/api/member_handler.go CreateMember. It sends --roleid + 1
		// (the flag is the form's 0-based role index: 1 → 2, developer)
		// and an empty member_group next to member_user.
		cli(t, "GET /projects/"+proj+" [X-Is-Resource-Name: true]",
			"GET /systeminfo",
			"POST /projects/"+proj+`/members [X-Is-Resource-Name: true] {"member_group":{},"member_user":{"username":"`+u.Username+`"},"role_id":2}`)
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: proj, XIsResourceName: &yes}))(t)
		info := must(c.Systeminfo.GetSystemInfo(ctx(t), &systeminfo.GetSystemInfoParams{}))(t).Payload
		if info.AuthMode == nil {
			t.Fatal("systeminfo has no auth_mode: harbor-cli dereferences it")
		}
		roleFlag := 1
		must(c.Member.CreateProjectMember(ctx(t), &member.CreateProjectMemberParams{
			XIsResourceName: &yes, ProjectNameOrID: proj,
			ProjectMember: &models.ProjectMember{RoleID: int64(roleFlag + 1),
				MemberUser: &models.UserEntity{Username: u.Username}, MemberGroup: &models.UserGroup{}},
		}))(t)
	})

	t.Run("project member list", func(t *testing.T) {
		// harbor project member list PROJECT — .../member/list.go (defaults
		// --page 1 --page-size 10), pkg/api/member_handler.go ListMember;
		// entityname only with --search.
		r := cli(t, "GET /projects/"+proj+"/members?page=1&page_size=10 [X-Is-Resource-Name: true]")
		entity, page, size := "", int64(1), int64(10)
		list := must(c.Member.ListProjectMembers(ctx(t), &member.ListProjectMembersParams{
			XIsResourceName: &yes, ProjectNameOrID: proj, Entityname: &entity, Page: &page, PageSize: &size}))(t).Payload
		r.check()
		var role int64
		for _, m := range list {
			if m.EntityName == u.Username {
				role = m.RoleID
			}
		}
		if role != 2 {
			t.Errorf("%s has role %d, want 2 (developer)", u.Username, role)
		}
	})

	t.Run("project member update", func(t *testing.T) {
		// harbor project member update PROJECT --member U --roleid 4 —
		// .../member/update.go: GetUsersIdByName (page=0&page_size=0), and
		// the user's id used as the member id, then UpdateMember. (On
		// Harbor a member id is not the user id; on berth it is.)
		uid := u.UserID
		cli(t, "GET /users?page=0&page_size=0",
			idPath("PUT /projects/"+proj+"/members/%d [X-Is-Resource-Name: true] {\"role_id\":4}", uid))
		id := lookupUserID(t, c, u.Username)
		must(c.Member.UpdateProjectMember(ctx(t), &member.UpdateProjectMemberParams{
			XIsResourceName: &yes, ProjectNameOrID: proj, Mid: id, Role: &models.RoleRequest{RoleID: 4}}))(t)
	})

	t.Run("project member delete", func(t *testing.T) {
		// harbor project member delete PROJECT --username U —
		// .../member/delete.go: GetProject, then DeleteMemberByUsername:
		// the members named U (no paging), and the one whose name is U
		// deleted.
		r := cli(t, "GET /projects/"+proj+" [X-Is-Resource-Name: true]",
			"GET /projects/"+proj+"/members?entityname="+u.Username+" [X-Is-Resource-Name: true]")
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: proj, XIsResourceName: &yes}))(t)
		name := u.Username
		list := must(c.Member.ListProjectMembers(ctx(t), &member.ListProjectMembersParams{
			ProjectNameOrID: proj, XIsResourceName: &yes, Entityname: &name}))(t).Payload
		var mid int64
		for _, m := range list {
			if m.EntityName == name {
				mid = m.ID
			}
		}
		if mid == 0 {
			t.Fatalf("member %s not found", name)
		}
		r.expect(idPath("DELETE /projects/"+proj+"/members/%d [X-Is-Resource-Name: true]", mid))
		must(c.Member.DeleteProjectMember(ctx(t), &member.DeleteProjectMemberParams{ProjectNameOrID: proj, Mid: mid, XIsResourceName: &yes}))(t)
	})
}
