package harborapi

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestProjects: create, find, read (by name and by id), change, list and
// delete a project, and read its log, as Harbor's client does.
func TestProjects(t *testing.T) {
	c := client(t)
	name := unique("proj")
	public, limit := false, int64(-1)
	must(c.Project.CreateProject(ctx(t), &project.CreateProjectParams{Project: &models.ProjectReq{
		ProjectName: name, Public: &public, StorageLimit: &limit, Metadata: &models.ProjectMetadata{Public: "false"},
	}}))(t)

	must(c.Project.HeadProject(ctx(t), &project.HeadProjectParams{ProjectName: name}))(t)
	if _, err := c.Project.HeadProject(ctx(t), &project.HeadProjectParams{ProjectName: unique("absent")}); err == nil {
		t.Error("headProject of a missing project succeeded")
	}

	yes := true
	got := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().
		WithProjectNameOrID(name).WithXIsResourceName(&yes)))(t).Payload
	if got.Name != name || got.Metadata == nil || got.Metadata.Public != "false" || got.OwnerName != "admin" {
		t.Errorf("getProject = %+v (metadata %+v)", got, got.Metadata)
	}
	id := strconv.Itoa(int(got.ProjectID))
	byID := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(id)))(t).Payload
	if byID.Name != name {
		t.Errorf("getProject %s = %q, want %q", id, byID.Name, name)
	}

	must(c.Project.UpdateProject(ctx(t), project.NewUpdateProjectParams().WithProjectNameOrID(name).
		WithXIsResourceName(&yes).WithProject(&models.ProjectReq{Metadata: &models.ProjectMetadata{Public: "true"}})))(t)

	list := must(c.Project.ListProjects(ctx(t), project.NewListProjectsParams().WithName(&name).WithPublic(&yes)))(t)
	if len(list.Payload) != 1 || list.Payload[0].Name != name || list.Payload[0].Metadata.Public != "true" || list.XTotalCount != 1 {
		t.Errorf("listProjects name=%s public=true: %d projects (X-Total-Count %d)", name, len(list.Payload), list.XTotalCount)
	}

	await(t, func() (bool, string) { // audit records are written in the background
		logs := must(c.Project.GetLogs(ctx(t), project.NewGetLogsParams().WithProjectName(name)))(t).Payload
		ok := len(logs) == 2 && logs[0].Username == "admin" && logs[0].Operation == "update" && logs[0].ResourceType == "project"
		return ok, fmt.Sprintf("project log has %d entries, first %+v; want update and create by admin", len(logs), first(logs))
	})

	must(c.Project.DeleteProject(ctx(t), project.NewDeleteProjectParams().WithProjectNameOrID(id)))(t)
	if _, err := c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(id)); err == nil {
		t.Error("the deleted project is still there")
	} else if !isStatus(err, 404) {
		t.Errorf("getProject of a deleted project: %s, want 404", describe(err))
	}
}

// TestMembers: a project's members, added by user name and by user id.
func TestMembers(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	alice, bob := newUser(t, c), newUser(t, c)
	yes := true
	must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).
		WithProjectMember(&models.ProjectMember{RoleID: 2, MemberUser: &models.UserEntity{Username: alice.Username}})))(t)
	must(c.Member.CreateProjectMember(ctx(t), member.NewCreateProjectMemberParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).
		WithProjectMember(&models.ProjectMember{RoleID: 3, MemberUser: &models.UserEntity{UserID: bob.UserID}})))(t)

	list := must(c.Member.ListProjectMembers(ctx(t), member.NewListProjectMembersParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithEntityname(&alice.Username)))(t).Payload
	if len(list) != 1 || list[0].EntityName != alice.Username || list[0].RoleID != 2 || list[0].EntityType != "u" {
		t.Fatalf("members named %s: %+v", alice.Username, list)
	}
	mid := list[0].ID

	m := must(c.Member.GetProjectMember(ctx(t), member.NewGetProjectMemberParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMid(mid)))(t).Payload
	if m.EntityName != alice.Username || m.RoleName == "" {
		t.Errorf("getProjectMember = %+v", m)
	}
	must(c.Member.UpdateProjectMember(ctx(t), member.NewUpdateProjectMemberParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMid(mid).WithRole(&models.RoleRequest{RoleID: 4})))(t)
	m = must(c.Member.GetProjectMember(ctx(t), member.NewGetProjectMemberParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMid(mid)))(t).Payload
	if m.RoleID != 4 {
		t.Errorf("role after update = %d, want 4 (maintainer)", m.RoleID)
	}
	must(c.Member.DeleteProjectMember(ctx(t), member.NewDeleteProjectMemberParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes).WithMid(mid)))(t)
	all := must(c.Member.ListProjectMembers(ctx(t), member.NewListProjectMembersParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload
	for _, e := range all {
		if e.EntityName == alice.Username {
			t.Errorf("%s is still a member after delete", alice.Username)
		}
	}
}

// newProject creates a private project for t and returns its name.
func newProject(t testing.TB, c harborClient) string {
	t.Helper()
	name := unique("proj")
	must(c.Project.CreateProject(ctx(t), project.NewCreateProjectParams().
		WithProject(&models.ProjectReq{ProjectName: name, Metadata: &models.ProjectMetadata{Public: "false"}})))(t)
	return name
}

// newUser creates a user (password userPassword) and returns it.
func newUser(t testing.TB, c harborClient) *models.UserResp {
	t.Helper()
	name := unique("user")
	must(c.User.CreateUser(ctx(t), user.NewCreateUserParams().WithUserReq(&models.UserCreationReq{
		Username: name, Email: name + "@example.com", Realname: "Test " + name, Password: userPassword, Comment: "harborapi",
	})))(t)
	list := must(c.User.ListUsers(ctx(t), user.NewListUsersParams().WithQ(ptr("username="+name))))(t).Payload
	for _, u := range list {
		if u.Username == name {
			return u
		}
	}
	t.Fatalf("user %s not listed after create", name)
	return nil
}

// userPassword is the password of the users the tests create.
const userPassword = "User-Passw0rd"

func first[T any](s []*T) *T {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func ptr[T any](v T) *T { return &v }
