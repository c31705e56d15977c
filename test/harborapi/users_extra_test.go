package harborapi

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/auditlog"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/permissions"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/ping"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestUsersExtra: a user as Harbor's UI and Terraform provider see it
// (every UserResp field), searches users, reads its permissions in a
// project and the system's, and is refused a CLI secret (no OIDC).
func TestUsersExtra(t *testing.T) {
	c := client(t)
	u := newUser(t, c)
	uc := clientAs(t, u.Username, userPassword)

	me := must(uc.User.GetCurrentUserInfo(ctx(t), user.NewGetCurrentUserInfoParams()))(t).Payload
	if me.UserID != u.UserID || me.Username != u.Username || me.Email != u.Username+"@example.com" || me.Realname != "Test "+u.Username ||
		me.Comment != "harborapi" || me.SysadminFlag || me.AdminRoleInAuth || me.OIDCUserMeta != nil ||
		me.CreationTime.String() == "" || me.UpdateTime.String() == "" {
		t.Errorf("getCurrentUserInfo = %s", dump(me))
	}

	// searchUsers: any signed-in user, by part of the name, any case.
	found := must(uc.User.SearchUsers(ctx(t), user.NewSearchUsersParams().WithUsername(strings.ToUpper(u.Username[:len(u.Username)-1]))))(t)
	if !slices.ContainsFunc(found.Payload, func(s *models.UserSearchRespItem) bool { return s.UserID == u.UserID && s.Username == u.Username }) ||
		found.XTotalCount < 1 {
		t.Errorf("searchUsers = %s (total %d)", dump(found.Payload), found.XTotalCount)
	}
	one := must(uc.User.SearchUsers(ctx(t), user.NewSearchUsersParams().WithUsername("user-").WithPage(ptr(int64(2))).WithPageSize(ptr(int64(1)))))(t)
	if len(one.Payload) > 1 || one.XTotalCount > 1 && !strings.Contains(one.Link, `rel="prev"`) {
		t.Errorf("searchUsers page 2 of 1: %s, Link %q", dump(one.Payload), one.Link)
	}

	// getCurrentUserPermissions in a project where u is a developer.
	proj := newProject(t, c)
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).WithXIsResourceName(ptr(true))))(t).Payload
	must(c.Member.CreateProjectMember(ctx(t), memberParams(proj, u.Username, 2)))(t)
	scope := "/project/" + strconv.Itoa(int(p.ProjectID))
	rel := must(uc.User.GetCurrentUserPermissions(ctx(t), user.NewGetCurrentUserPermissionsParams().
		WithScope(&scope).WithRelative(ptr(true))))(t).Payload
	if !hasPermission(rel, "repository", "push") || !hasPermission(rel, ".", "read") || hasPermission(rel, "member", "create") {
		t.Errorf("developer's permissions in %s: %s", scope, dump(rel))
	}
	abs := must(uc.User.GetCurrentUserPermissions(ctx(t), user.NewGetCurrentUserPermissionsParams().WithScope(&scope)))(t).Payload
	if !hasPermission(abs, scope+"/repository", "push") || !hasPermission(abs, scope, "read") || len(abs) != len(rel) {
		t.Errorf("absolute permissions: %s", dump(abs))
	}
	system := must(c.User.GetCurrentUserPermissions(ctx(t), user.NewGetCurrentUserPermissionsParams().
		WithScope(ptr("/system")).WithRelative(ptr(true))))(t).Payload
	if !hasPermission(system, "user", "create") || !hasPermission(system, "audit-log", "list") {
		t.Errorf("administrator's system permissions: %s", dump(system))
	}
	if none := must(uc.User.GetCurrentUserPermissions(ctx(t), user.NewGetCurrentUserPermissionsParams()))(t).Payload; len(none) != 0 {
		t.Errorf("permissions without a scope: %s", dump(none))
	}

	// setCliSecret: 412 without OIDC, as Harbor answers under db_auth,
	// for the user's own id too.
	_, err := uc.User.SetCliSecret(ctx(t), user.NewSetCliSecretParams().WithUserID(u.UserID).
		WithSecret(&models.OIDCCliSecretReq{Secret: "Cli-Secret-123"}))
	var pf *user.SetCliSecretPreconditionFailed // Harbor's document gives the 412 no body
	if !errors.As(err, &pf) {
		t.Errorf("setCliSecret: %v, want 412", describe(err))
	}
}

// TestHarborCLIProjectRobots replays harbor project robot create
// --all-permission and project robot list, and harbor login as a robot.
func TestHarborCLIProjectRobots(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).WithXIsResourceName(ptr(true))))(t).Payload
	id := int64(p.ProjectID)
	// harbor-cli's q for a project's robots (pkg/constants
	// ProjectQString), already URL-encoded: the go-client encodes it
	// again and Harbor, like berth, decodes it twice.
	projectQ := "Level%3Dproject%2CProjectID%3D" + strconv.FormatInt(id, 10)
	wireQ := "Level%253Dproject%252CProjectID%253D" + strconv.FormatInt(id, 10)
	name := unique("clibot")
	yes, no := true, false

	t.Run("project robot create", func(t *testing.T) {
		// harbor project robot create --project P --name N --description D
		// --duration 90 --all-permission — cmd/harbor/root/project/robot/create.go:
		// every project permission (GetPermissions), the project by name,
		// pkg/api/robot_handler.go CheckRobotWithNameExists (the project's
		// robots, the project by id, the robot name prefix), then
		// CreateRobot at level project.
		r := cli(t, "GET /permissions", "GET /projects/"+proj+" [X-Is-Resource-Name: true]",
			"GET /robots?page=0&page_size=0&q="+wireQ, idPath("GET /projects/%d [X-Is-Resource-Name: false]", id),
			"GET /configurations")
		perms := must(c.Permissions.GetPermissions(ctx(t), &permissions.GetPermissionsParams{}))(t).Payload.Project
		var access []*models.Access
		for _, perm := range perms {
			access = append(access, &models.Access{Action: perm.Action, Resource: perm.Resource})
		}
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: proj, XIsResourceName: &yes}))(t)
		var page, size int64
		var sort string
		q := projectQ
		existing := must(c.Robot.ListRobot(ctx(t), &robot.ListRobotParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		if len(existing) != 0 {
			t.Errorf("robots of a new project: %s", dump(existing))
		}
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: strconv.FormatInt(id, 10), XIsResourceName: &no}))(t)
		cfg := must(c.Configure.GetConfigurations(ctx(t), &configure.GetConfigurationsParams{}))(t).Payload
		if cfg.RobotNamePrefix == nil || cfg.RobotNamePrefix.Value != "robot$" {
			t.Fatalf("robot_name_prefix: %s", dump(cfg.RobotNamePrefix))
		}
		req := &models.RobotCreate{Description: "from harbor-cli", Duration: 90, Level: "project", Name: name,
			Permissions: []*models.RobotPermission{{Access: access, Kind: "project", Namespace: proj}}}
		r.expect("POST /robots " + body(req))
		created := must(c.Robot.CreateRobot(ctx(t), &robot.CreateRobotParams{Robot: req}))(t).Payload
		if created.Name != "robot$"+proj+"+"+name || created.Secret == "" {
			t.Errorf("created: %s", dump(created))
		}
	})

	// The robot with every permission offered, whatever became of the
	// replay (which needs GET /configurations).
	all := must(c.Permissions.GetPermissions(ctx(t), permissions.NewGetPermissionsParams()))(t).Payload
	if len(all.Project) == 0 || all.System == nil || len(all.System) != 0 {
		t.Fatalf("getPermissions = %s", dump(all))
	}
	var access []*models.Access
	for _, perm := range all.Project {
		access = append(access, &models.Access{Resource: perm.Resource, Action: perm.Action})
	}
	owner := newUser(t, c)
	must(c.Member.CreateProjectMember(ctx(t), memberParams(proj, owner.Username, 1)))(t)
	oc := clientAs(t, owner.Username, userPassword)
	mine := must(oc.Permissions.GetPermissions(ctx(t), permissions.NewGetPermissionsParams()))(t).Payload // a project admin's
	if !slices.EqualFunc(mine.Project, all.Project, func(a, b *models.Permission) bool { return *a == *b }) {
		t.Errorf("project admin's getPermissions = %s", dump(mine))
	}
	bot := must(oc.Robot.CreateRobot(ctx(t), robot.NewCreateRobotParams().WithRobot(&models.RobotCreate{
		Name: unique("every"), Level: "project", Duration: -1,
		Permissions: []*models.RobotPermission{{Kind: "project", Namespace: proj, Access: access}},
	})))(t).Payload
	got := must(c.Robot.GetRobotByID(ctx(t), robot.NewGetRobotByIDParams().WithRobotID(bot.ID)))(t).Payload
	if got.CreatorType != "local" || got.CreatorRef != owner.UserID || got.Secret != "" || len(got.Permissions) != 1 {
		t.Errorf("robot = %s", dump(got))
	}

	t.Run("project robot list", func(t *testing.T) {
		// harbor project robot list P — cmd/harbor/root/project/robot/list.go
		// (defaults --page 1 --page-size 10): the project, then ListRobot
		// with its q.
		cli(t, "GET /projects/"+proj+" [X-Is-Resource-Name: true]", "GET /robots?page=1&page_size=10&q="+wireQ)
		must(c.Project.GetProject(ctx(t), &project.GetProjectParams{ProjectNameOrID: proj, XIsResourceName: &yes}))(t)
		page, size, q, sort := int64(1), int64(10), projectQ, ""
		list := must(c.Robot.ListRobot(ctx(t), &robot.ListRobotParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		if !slices.ContainsFunc(list, func(r *models.Robot) bool { return r.ID == bot.ID }) {
			t.Errorf("project robot list: %s", dump(list))
		}
	})

	t.Run("login as a robot", func(t *testing.T) {
		// harbor login URL -u robot$... -p ... — cmd/harbor/root/login.go
		// validateClientConnection: GetCurrentUserInfo is 412 for a robot
		// (neither 401 nor 403), so ListProjects (page=1&page_size=1) and
		// GetPing must both succeed.
		cli(t, "GET /users/current", "GET /projects?page=1&page_size=1", "GET /ping")
		rc := clientAs(t, bot.Name, bot.Secret)
		if _, err := rc.User.GetCurrentUserInfo(ctx(t), &user.GetCurrentUserInfoParams{}); !isStatus(err, 412) {
			t.Fatalf("a robot's getCurrentUserInfo: %v, want 412", describe(err))
		}
		must(rc.Project.ListProjects(ctx(t), &project.ListProjectsParams{Page: ptr(int64(1)), PageSize: ptr(int64(1))}))(t)
		must(rc.Ping.GetPing(ctx(t), &ping.GetPingParams{}))(t)
	})

	rc := clientAs(t, bot.Name, bot.Secret)
	perms := must(rc.User.GetCurrentUserPermissions(ctx(t), user.NewGetCurrentUserPermissionsParams().
		WithScope(ptr(fmt.Sprintf("/project/%d", id))).WithRelative(ptr(true))))(t).Payload
	if !hasPermission(perms, "repository", "push") || hasPermission(perms, "member", "create") {
		t.Errorf("the robot's permissions: %s", dump(perms))
	}
}

// TestAuditLogExts: the audit log extension as harbor-cli's logs command
// reads it, filtered with q, its event types, and a failed login recorded
// as a failed operation.
func TestAuditLogExts(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	pushImage(t, proj+"/app", "v1")

	var logs []*models.AuditLogExt
	await(t, func() (bool, string) {
		logs = must(c.Project.GetLogExts(ctx(t), project.NewGetLogExtsParams().WithProjectName(proj)))(t).Payload
		return len(logs) >= 2, "project log: " + dump(logs)
	})
	var push *models.AuditLogExt
	for _, l := range logs {
		if l.Operation == "push" && l.ResourceType == "artifact" {
			push = l
		}
	}
	if push == nil || !push.OperationResult || push.Username != "admin" || !strings.HasPrefix(push.Resource, proj+"/app@sha256:") ||
		!strings.HasPrefix(push.OperationDescription, "push artifact: ") || push.ID == 0 {
		t.Errorf("push record: %s", dump(push))
	}

	q := "operation=create,resource_type=project,resource=" + proj
	created := must(c.Auditlog.ListAuditLogExts(ctx(t), auditlog.NewListAuditLogExtsParams().WithQ(&q).WithSort(ptr("-op_time"))))(t)
	if len(created.Payload) != 1 || created.Payload[0].Username != "admin" || created.XTotalCount != 1 {
		t.Errorf("q=%s: %s", q, dump(created.Payload))
	}

	events := must(c.Auditlog.ListAuditLogEventTypes(ctx(t), auditlog.NewListAuditLogEventTypesParams()))(t).Payload
	for _, want := range []string{"create_project", "push_artifact", "login_user"} {
		if !slices.ContainsFunc(events, func(e *models.AuditLogEventType) bool { return e.EventType == want }) {
			t.Errorf("event types lack %s: %s", want, dump(events))
		}
	}

	bad := clientAs(t, "admin", "Not-The-Passw0rd")
	if _, err := bad.User.GetCurrentUserInfo(ctx(t), &user.GetCurrentUserInfoParams{}); !isStatus(err, 401) {
		t.Fatalf("a wrong password: %v", describe(err))
	}
	lq := "operation=login,username=admin"
	await(t, func() (bool, string) {
		l := must(c.Auditlog.ListAuditLogExts(ctx(t), auditlog.NewListAuditLogExtsParams().WithQ(&lq).WithPageSize(ptr(int64(100)))))(t).Payload
		return slices.ContainsFunc(l, func(e *models.AuditLogExt) bool { return !e.OperationResult }), "logins: " + dump(l)
	})
}

// memberParams adds user to project (by name) with role.
func memberParams(proj, username string, role int64) *member.CreateProjectMemberParams {
	return member.NewCreateProjectMemberParams().WithProjectNameOrID(proj).WithXIsResourceName(ptr(true)).
		WithProjectMember(&models.ProjectMember{RoleID: role, MemberUser: &models.UserEntity{Username: username}})
}

func hasPermission(ps []*models.Permission, resource, action string) bool {
	return slices.ContainsFunc(ps, func(p *models.Permission) bool { return p.Resource == resource && p.Action == action })
}
