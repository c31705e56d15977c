package harborapi

import (
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestUsers: an administrator creates, lists, reads, edits, promotes and
// deletes a user and sets its password; the user reads itself and changes
// its own password.
func TestUsers(t *testing.T) {
	c := client(t)
	u := newUser(t, c) // createUser, listUsers

	got := must(c.User.GetUser(ctx(t), user.NewGetUserParams().WithUserID(u.UserID)))(t).Payload
	if got.Username != u.Username || got.Email != u.Username+"@example.com" || got.SysadminFlag {
		t.Errorf("getUser = %+v", got)
	}
	must(c.User.UpdateUserProfile(ctx(t), user.NewUpdateUserProfileParams().WithUserID(u.UserID).
		WithProfile(&models.UserProfile{Email: "new-" + u.Username + "@example.com", Realname: "Renamed", Comment: "edited"})))(t)
	got = must(c.User.GetUser(ctx(t), user.NewGetUserParams().WithUserID(u.UserID)))(t).Payload
	if got.Realname != "Renamed" || got.Comment != "edited" {
		t.Errorf("after updateUserProfile: %+v", got)
	}

	// An administrator sets another user's password without the old one.
	const adminSet = "Admin-Set-0ne"
	must(c.User.UpdateUserPassword(ctx(t), user.NewUpdateUserPasswordParams().
		WithUserID(u.UserID).WithPassword(&models.PasswordReq{NewPassword: adminSet})))(t)

	uc := clientAs(t, u.Username, adminSet)
	me := must(uc.User.GetCurrentUserInfo(ctx(t), user.NewGetCurrentUserInfoParams()))(t).Payload
	if me.Username != u.Username || me.UserID != u.UserID {
		t.Errorf("getCurrentUserInfo as %s = %+v", u.Username, me)
	}
	const own = "Own-Passw0rd"
	must(uc.User.UpdateUserPassword(ctx(t), user.NewUpdateUserPasswordParams().
		WithUserID(u.UserID).WithPassword(&models.PasswordReq{OldPassword: adminSet, NewPassword: own})))(t)
	uc = clientAs(t, u.Username, own)
	must(uc.User.GetCurrentUserInfo(ctx(t), user.NewGetCurrentUserInfoParams()))(t)

	must(c.User.SetUserSysAdmin(ctx(t), user.NewSetUserSysAdminParams().WithUserID(u.UserID).
		WithSysadminFlag(&models.UserSysAdminFlag{SysadminFlag: true})))(t)
	me = must(uc.User.GetCurrentUserInfo(ctx(t), user.NewGetCurrentUserInfoParams()))(t).Payload
	if !me.SysadminFlag {
		t.Error("sysadmin_flag is false after setUserSysAdmin true")
	}
	// false is omitted from the go-client's body ({}): Harbor reads that
	// as false.
	must(c.User.SetUserSysAdmin(ctx(t), user.NewSetUserSysAdminParams().WithUserID(u.UserID).
		WithSysadminFlag(&models.UserSysAdminFlag{SysadminFlag: false})))(t)
	if me = must(c.User.GetUser(ctx(t), user.NewGetUserParams().WithUserID(u.UserID)))(t).Payload; me.SysadminFlag {
		t.Error("sysadmin_flag is true after setUserSysAdmin false")
	}

	list := must(c.User.ListUsers(ctx(t), user.NewListUsersParams().WithPageSize(ptr(int64(100)))))(t).Payload
	if len(list) < 2 {
		t.Errorf("listUsers: %d users, want admin and %s at least", len(list), u.Username)
	}
	must(c.User.DeleteUser(ctx(t), user.NewDeleteUserParams().WithUserID(u.UserID)))(t)
	if _, err := c.User.GetUser(ctx(t), user.NewGetUserParams().WithUserID(u.UserID)); err == nil {
		t.Error("the deleted user is still there")
	}
}
