package harborapi

import (
	"strconv"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestRobots: a project robot created, listed, read, changed, given a new
// secret (which then signs in) and deleted, as Harbor's UI and Terraform
// provider do through this client.
func TestRobots(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	yes := true
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().
		WithProjectNameOrID(proj).WithXIsResourceName(&yes)))(t).Payload

	name := unique("ci")
	created := must(c.Robot.CreateRobot(ctx(t), robot.NewCreateRobotParams().WithRobot(&models.RobotCreate{
		Name: name, Description: "pushes from CI", Level: "project", Duration: 30,
		Permissions: []*models.RobotPermission{{Kind: "project", Namespace: proj, Access: []*models.Access{
			{Resource: "repository", Action: "pull"}, {Resource: "repository", Action: "push"},
		}}},
	})))(t).Payload
	wantName := "robot$" + proj + "+" + name
	if created.Name != wantName || created.Secret == "" || created.ID == 0 || created.ExpiresAt <= 0 {
		t.Fatalf("CreateRobot = %+v, want name %s, a secret and an expiry", created, wantName)
	}

	q := "Level=project,ProjectID=" + strconv.Itoa(int(p.ProjectID))
	list := must(c.Robot.ListRobot(ctx(t), robot.NewListRobotParams().WithQ(&q)))(t).Payload
	if len(list) != 1 || list[0].Name != wantName || len(list[0].Permissions) != 1 {
		t.Errorf("ListRobot q=%s = %+v", q, list)
	}
	got := must(c.Robot.GetRobotByID(ctx(t), robot.NewGetRobotByIDParams().WithRobotID(created.ID)))(t).Payload
	if got.Name != wantName || got.Level != "project" || got.Duration == nil || *got.Duration != 30 ||
		len(got.Permissions) != 1 || len(got.Permissions[0].Access) != 2 {
		t.Errorf("GetRobotByID = %+v", got)
	}

	// PUT takes the whole Robot back, changed, as the UI sends it.
	got.Description, got.Permissions[0].Access = "pulls only", []*models.Access{{Resource: "repository", Action: "pull"}}
	must(c.Robot.UpdateRobot(ctx(t), robot.NewUpdateRobotParams().WithRobotID(created.ID).WithRobot(got)))(t)
	got = must(c.Robot.GetRobotByID(ctx(t), robot.NewGetRobotByIDParams().WithRobotID(created.ID)))(t).Payload
	if got.Description != "pulls only" || len(got.Permissions) != 1 || len(got.Permissions[0].Access) != 1 {
		t.Errorf("after UpdateRobot: %+v", got)
	}

	sec := must(c.Robot.RefreshSec(ctx(t), robot.NewRefreshSecParams().WithRobotID(created.ID).
		WithRobotSec(&models.RobotSec{})))(t).Payload
	if sec.Secret == "" || sec.Secret == created.Secret {
		t.Errorf("RefreshSec gave secret %q (the old one: %v)", sec.Secret, sec.Secret == created.Secret)
	}
	const chosen = "Chosen-Secret-1"
	if sec := must(c.Robot.RefreshSec(ctx(t), robot.NewRefreshSecParams().WithRobotID(created.ID).
		WithRobotSec(&models.RobotSec{Secret: chosen})))(t).Payload; sec.Secret != "" {
		t.Errorf("RefreshSec with a chosen secret sent it back (Harbor sends none): %q", sec.Secret)
	}
	rc := clientAs(t, wantName, chosen)
	must(rc.Project.ListProjects(ctx(t), project.NewListProjectsParams()))(t) // a wrong secret: 401

	must(c.Robot.DeleteRobot(ctx(t), robot.NewDeleteRobotParams().WithRobotID(created.ID)))(t)
	if _, err := c.Robot.GetRobotByID(ctx(t), robot.NewGetRobotByIDParams().WithRobotID(created.ID)); err == nil {
		t.Error("the deleted robot is still there")
	}
}
