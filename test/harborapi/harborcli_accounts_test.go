package harborapi

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/permissions"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestHarborCLIUsers replays harbor user create, list, elevate, password
// and delete. elevate, password and delete find the user's id by name
// with pkg/api/user_handler.go GetUsersIdByName (lookupUserID).
func TestHarborCLIUsers(t *testing.T) {
	c := client(t)
	name := unique("cliuser")

	t.Run("user create", func(t *testing.T) {
		// harbor user create --username U --email E --realname R --password P
		// --comment C — cmd/harbor/root/user/create.go (all given: no form),
		// pkg/api/user_handler.go CreateUser.
		cli(t, `POST /users {"comment":"from harbor-cli","email":"`+name+`@example.com","password":"`+userPassword+
			`","realname":"CLI User","username":"`+name+`"}`)
		must(c.User.CreateUser(ctx(t), &user.CreateUserParams{UserReq: &models.UserCreationReq{
			Email: name + "@example.com", Realname: "CLI User", Comment: "from harbor-cli", Password: userPassword, Username: name,
		}}))(t)
	})

	t.Run("user list", func(t *testing.T) {
		// harbor user list — cmd/harbor/root/user/list.go: the default
		// --page-size 0 means all, fetched 100 at a time until a page is
		// short (ListUsers).
		r := cli(t, "GET /users?page=1&page_size=100")
		var found bool
		for page := int64(1); page <= 50; page++ {
			if page > 1 {
				r.expect(idPath("GET /users?page=%d&page_size=100", page))
			}
			q, sort, size := "", "", int64(100)
			list := must(c.User.ListUsers(ctx(t), &user.ListUsersParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
			for _, u := range list {
				found = found || u.Username == name
			}
			if len(list) < 100 {
				break
			}
		}
		if !found {
			t.Errorf("user %s not listed", name)
		}
	})

	uid := lookupUserIDQuiet(t, c, name)
	t.Run("user elevate", func(t *testing.T) {
		// harbor user elevate U — cmd/harbor/root/user/elevate.go: the id,
		// a confirmation, then ElevateUser.
		cli(t, "GET /users?page=0&page_size=0", idPath(`PUT /users/%d/sysadmin {"sysadmin_flag":true}`, uid))
		id := lookupUserID(t, c, name)
		must(c.User.SetUserSysAdmin(ctx(t), &user.SetUserSysAdminParams{UserID: id, SysadminFlag: &models.UserSysAdminFlag{SysadminFlag: true}}))(t)
	})

	t.Run("user password", func(t *testing.T) {
		// harbor user password U --password-stdin — cmd/harbor/root/user/password.go:
		// the id (not looked up with --user-id), the new password twice
		// from stdin, then ResetPassword, without the old password.
		cli(t, "GET /users?page=0&page_size=0", idPath(`PUT /users/%d/password {"new_password":"Reset-Passw0rd"}`, uid))
		id := lookupUserID(t, c, name)
		must(c.User.UpdateUserPassword(ctx(t), &user.UpdateUserPasswordParams{UserID: id, Password: &models.PasswordReq{NewPassword: "Reset-Passw0rd"}}))(t)
	})

	t.Run("user delete", func(t *testing.T) {
		// harbor user delete U — cmd/harbor/root/user/delete.go: the id,
		// then DeleteUser.
		cli(t, "GET /users?page=0&page_size=0", idPath("DELETE /users/%d", uid))
		id := lookupUserID(t, c, name)
		must(c.User.DeleteUser(ctx(t), &user.DeleteUserParams{UserID: id}))(t)
	})
}

// lookupUserIDQuiet finds a user's id for writing requests down, with a
// query harbor-cli does not send (outside any replay).
func lookupUserIDQuiet(t *testing.T, c harborClient, name string) int64 {
	t.Helper()
	for _, u := range must(c.User.ListUsers(ctx(t), user.NewListUsersParams().WithQ(ptr("username="+name))))(t).Payload {
		if u.Username == name {
			return u.UserID
		}
	}
	t.Fatalf("user %s not found", name)
	return 0
}

// TestHarborCLIRobots replays harbor robot create, list, view, refresh
// and delete (system robots: the robot command; harbor project robot is
// the project level).
func TestHarborCLIRobots(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)

	t.Run("robot create", func(t *testing.T) {
		// harbor robot create --name N --description D --duration 90
		// --all-permission --project P — cmd/harbor/root/robot/create.go:
		// every system permission (GetPermissions), every project
		// permission for P (GetPermissions again), then
		// pkg/api/robot_handler.go CreateRobot with level system and both
		// permission sets (disable false is left out).
		name := unique("clibot")
		r := cli(t, "GET /permissions", "GET /permissions")
		sys := must(c.Permissions.GetPermissions(ctx(t), &permissions.GetPermissionsParams{}))(t).Payload.System
		prj := must(c.Permissions.GetPermissions(ctx(t), &permissions.GetPermissionsParams{}))(t).Payload.Project
		access := func(ps []*models.Permission) []*models.Access {
			var out []*models.Access
			for _, p := range ps {
				out = append(out, &models.Access{Resource: p.Resource, Action: p.Action})
			}
			return out
		}
		perms := []*models.RobotPermission{{Namespace: proj, Access: access(prj), Kind: "project"}}
		if len(sys) > 0 {
			perms = append(perms, &models.RobotPermission{Namespace: "/", Access: access(sys), Kind: "system"})
		}
		req := &models.RobotCreate{Description: "from harbor-cli", Duration: 90, Level: "system", Name: name, Permissions: perms}
		r.expect("POST /robots " + body(req))
		created := must(c.Robot.CreateRobot(ctx(t), &robot.CreateRobotParams{Robot: req}))(t).Payload
		if created.Secret == "" {
			t.Error("robot create: no secret in the answer")
		}
	})

	// view, refresh and delete need a robot whether or not create worked.
	bot := unique("clibot")
	created := must(c.Robot.CreateRobot(ctx(t), robot.NewCreateRobotParams().WithRobot(&models.RobotCreate{
		Name: bot, Level: "system", Duration: 30, Permissions: []*models.RobotPermission{
			{Kind: "project", Namespace: proj, Access: []*models.Access{{Resource: "repository", Action: "pull"}}}},
	})))(t).Payload
	id := strconv.FormatInt(created.ID, 10)

	t.Run("robot list", func(t *testing.T) {
		// harbor robot list — cmd/harbor/root/robot/list.go (defaults
		// --page 1 --page-size 10), ListRobot without q.
		r := cli(t, "GET /robots?page=1&page_size=10")
		q, sort, page, size := "", "", int64(1), int64(10)
		list := must(c.Robot.ListRobot(ctx(t), &robot.ListRobotParams{Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		r.check()
		if len(list) == 0 {
			t.Error("robot list: no robots")
		}
	})

	t.Run("robot view", func(t *testing.T) {
		// harbor robot view ID — cmd/harbor/root/robot/view.go: GetRobot,
		// then pkg/views/robot/view (the table) reads every permission
		// there is (config.GetAllAvailablePermissions).
		cli(t, "GET /robots/"+id, "GET /permissions")
		must(c.Robot.GetRobotByID(ctx(t), &robot.GetRobotByIDParams{RobotID: created.ID}))(t)
		must(c.Permissions.GetPermissions(ctx(t), &permissions.GetPermissionsParams{}))(t)
	})

	t.Run("robot refresh", func(t *testing.T) {
		// harbor robot refresh ID — cmd/harbor/root/robot/refresh.go:
		// RefreshSecret with no --secret, so an empty RobotSec ({}) and
		// Harbor makes the secret.
		cli(t, "PATCH /robots/"+id+" {}")
		sec := must(c.Robot.RefreshSec(ctx(t), &robot.RefreshSecParams{RobotSec: &models.RobotSec{Secret: ""}, RobotID: created.ID}))(t).Payload
		if sec.Secret == "" {
			t.Error("robot refresh: no secret in the answer")
		}
	})

	t.Run("robot delete", func(t *testing.T) {
		// harbor robot delete robot$NAME — cmd/harbor/root/robot/delete.go,
		// pkg/api/robot_handler.go GetRobotByName: the robot name prefix
		// from the configuration, the robots whose name is NAME without it
		// (q=name=..., page=0&page_size=0), then DeleteRobot.
		r := cli(t, "GET /configurations", "GET /robots?page=0&page_size=0&q="+url.QueryEscape("name="+bot))
		cfg := must(c.Configure.GetConfigurations(ctx(t), &configure.GetConfigurationsParams{}))(t).Payload
		if cfg.RobotNamePrefix == nil {
			t.Fatal("configurations have no robot_name_prefix: harbor-cli dereferences it")
		}
		query := "name=" + created.Name[len(cfg.RobotNamePrefix.Value):]
		var page, size int64
		var sort string
		list := must(c.Robot.ListRobot(ctx(t), &robot.ListRobotParams{Page: &page, PageSize: &size, Q: &query, Sort: &sort}))(t).Payload
		if len(list) != 1 {
			t.Fatalf("robots named %s: %d, harbor-cli wants exactly one", query, len(list))
		}
		r.expect(idPath("DELETE /robots/%d", list[0].ID))
		must(c.Robot.DeleteRobot(ctx(t), &robot.DeleteRobotParams{RobotID: list[0].ID}))(t)
	})
}
