package meta

import (
	"context"
	"strings"
	"time"
)

// The group types, Harbor's.
const (
	LDAPGroup = 1
	HTTPGroup = 2
	OIDCGroup = 3
)

// UserGroup is a group of users kept elsewhere (an LDAP group, an OIDC
// groups claim value, an auth proxy's group) that can be made a project
// member. Berth stores the group, never its members: they come from the
// directory or the provider when a user signs in or is re-checked.
type UserGroup struct {
	ID   int64
	Name string
	Type int
	// LDAPDN is the group's distinguished name (LDAP groups only). The
	// store matches it ignoring case.
	LDAPDN    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Key is what identifies g among the groups of its type: its DN for an
// LDAP group, its name otherwise (lower case: both compare ignoring case).
func (g UserGroup) Key() string {
	if g.Type == LDAPGroup {
		return strings.ToLower(g.LDAPDN)
	}
	return strings.ToLower(g.Name)
}

// GroupMember is a group's role in a project (rbac.Role ids).
type GroupMember struct {
	ProjectID int64
	GroupID   int64
	GroupName string
	GroupType int
	Role      int
}

// UserGroupStore keeps user groups and their project memberships.
type UserGroupStore interface {
	// CreateUserGroup stores g (ErrConflict: a group of its type with its
	// key exists).
	CreateUserGroup(ctx context.Context, g *UserGroup) error
	GetUserGroup(ctx context.Context, id int64) (*UserGroup, error)
	// ListUserGroups keys: group_name, group_type, ldap_group_dn (exact,
	// ignoring case), id.
	ListUserGroups(ctx context.Context, q ListQuery) ([]UserGroup, int64, error)
	// FindUserGroups returns the groups of type typ with one of keys (see
	// UserGroup.Key; compared ignoring case).
	FindUserGroups(ctx context.Context, typ int, keys []string) ([]UserGroup, error)
	// UpdateUserGroup changes a group's name.
	UpdateUserGroup(ctx context.Context, g *UserGroup) error
	// DeleteUserGroup deletes a group and its project memberships.
	DeleteUserGroup(ctx context.Context, id int64) error

	// SetGroupMember makes a group a member of a project with role, or
	// changes its role (ErrNotFound: no such project or group).
	SetGroupMember(ctx context.Context, projectID, groupID int64, role int) error
	RemoveGroupMember(ctx context.Context, projectID, groupID int64) error
	ListGroupMembers(ctx context.Context, projectID int64) ([]GroupMember, error)
	// GroupRoles returns the roles in the project of those of groupIDs
	// that are members of it.
	GroupRoles(ctx context.Context, projectID int64, groupIDs []int64) ([]int, error)
}
