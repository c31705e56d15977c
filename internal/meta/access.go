package meta

import (
	"context"
	"errors"
	"time"
)

// Errors of the access store.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique name (user, project, robot) is taken.
	ErrConflict = errors.New("already exists")
)

// User is a local account. PasswordHash is a bcrypt hash; the password
// itself is never stored.
type User struct {
	ID           int64
	Username     string
	Email        string
	Realname     string
	Comment      string
	PasswordHash string
	SysAdmin     bool
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Project is a namespace: every repository is <project>/<path...>.
type Project struct {
	ID        int64
	Name      string
	Public    bool
	OwnerID   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Member is a user's role in a project (rbac.Role ids).
type Member struct {
	ProjectID int64
	UserID    int64
	Username  string
	Role      int
}

// RobotPrefix starts every robot account's name (auth.RobotPrefix).
const RobotPrefix = "robot$"

// Robot is a robot account. Name is the full "robot$<project>+<name>" (or
// "robot$<name>" for a system robot). SecretHash is a bcrypt hash.
type Robot struct {
	ID          int64
	Name        string
	Description string
	Level       string // "system" or "project"
	ProjectID   int64  // for project robots
	SecretHash  string
	Disabled    bool
	ExpiresAt   time.Time // zero: never
	Permissions []RobotPermission
	// CreatorType and CreatorRef say who created the robot, as Harbor's
	// creator_type and creator_ref: "local" and a user id, or "robot" and
	// a robot id ("" and 0 for robots created before berth kept them).
	CreatorType string
	CreatorRef  int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RobotPermission grants actions (rbac action names) in one project, or in
// every project with Project "*" (system robots only). The project is
// held by id, so a project re-created under a deleted one's name is not
// granted; Project is its current name, filled in when the robot is read
// ("" once the project is deleted: the permission grants nothing). A
// permission written with only Project set is resolved to the project of
// that name when it is stored (meta.ErrNotFound if there is none).
type RobotPermission struct {
	ProjectID int64 // 0 for "*"
	Project   string
	Actions   []string
}

// AuditRecord is one audit log entry. It never holds a secret.
type AuditRecord struct {
	ID           int64
	At           time.Time
	Username     string
	Remote       string
	Operation    string // push, pull, delete, create, login, ...
	ResourceType string // artifact, tag, user, project, member, robot, ...
	Resource     string
	// ProjectID is the project the record belongs to (0: none); a record
	// with only Project set is given the id of the project of that name
	// when it is written. Project is the name, for display.
	ProjectID int64
	Project   string
	Success   bool
}

// Page selects a page (1-based) of a listing.
type Page struct {
	Page, Size int
}

// AuditQuery filters the audit log. Keys: username, operation, resource,
// resource_type, project, id, op_time.
type AuditQuery struct {
	ProjectID int64 // a project's records, by id: not a namesake's
	ListQuery
}

// ProjectQuery filters projects. With VisibleTo set (a user id), only public
// projects and those the user is a member of are listed. Keys: name,
// project_id, public, owner (user name), owner_id, creation_time,
// update_time.
type ProjectQuery struct {
	VisibleTo int64
	// VisibleToGroups adds, with VisibleTo, the projects these user groups
	// (the user's) are members of.
	VisibleToGroups []int64
	ListQuery
}

// AccessStore keeps users, projects, memberships, robots and the audit log.
type AccessStore interface {
	MembershipStore
	OIDCStore
	UserGroupStore
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id int64) (*User, error)
	GetUserByName(ctx context.Context, username string) (*User, error)
	// ListUsers keys: username, email, realname, user_id, sysadmin_flag,
	// creation_time, update_time.
	ListUsers(ctx context.Context, q ListQuery) ([]User, int64, error)
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, id int64) error

	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, id int64) (*Project, error)
	GetProjectByName(ctx context.Context, name string) (*Project, error)
	ListProjects(ctx context.Context, q ProjectQuery) ([]Project, int64, error)
	UpdateProject(ctx context.Context, p *Project) error
	DeleteProject(ctx context.Context, id int64) error

	SetMember(ctx context.Context, projectID, userID int64, role int) error
	RemoveMember(ctx context.Context, projectID, userID int64) error
	MemberRole(ctx context.Context, projectID, userID int64) (int, error) // 0 if none
	ListMembers(ctx context.Context, projectID int64) ([]Member, error)

	CreateRobot(ctx context.Context, r *Robot) error
	GetRobot(ctx context.Context, id int64) (*Robot, error)
	GetRobotByName(ctx context.Context, name string) (*Robot, error)
	// ListRobots lists a project's robots (projectID 0: system robots).
	// Keys: name, description, disabled, id, creation_time, update_time,
	// expires_at.
	ListRobots(ctx context.Context, projectID int64, q ListQuery) ([]Robot, int64, error)
	UpdateRobot(ctx context.Context, r *Robot) error
	DeleteRobot(ctx context.Context, id int64) error

	AppendAudit(ctx context.Context, recs []AuditRecord) error
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditRecord, int64, error)
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
	ProjectSettingsStore
	QuotaStore
}
