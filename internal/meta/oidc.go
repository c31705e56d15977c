package meta

import (
	"context"
	"time"
)

// OIDCUser links a user to the OpenID Connect identity it was onboarded
// with (Harbor's oidc_user), and holds the user's CLI secret: the password
// docker and other clients give in place of one the user does not have.
type OIDCUser struct {
	UserID  int64
	Issuer  string
	Subject string
	// SecretHash is a bcrypt hash of the CLI secret ("" none set); the
	// secret itself is shown once, when it is set, and never stored.
	SecretHash  string
	SecretSetAt time.Time // zero: none set
	// AdminByGroup: the user's sysadmin flag was granted by membership of
	// the provider's admin group (and is taken back when that ends).
	AdminByGroup bool
	// Groups are the names in the groups claim at the last sign-in: the
	// user is in the OIDC user groups (meta.OIDCGroup) of these names.
	Groups    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SubIss is Harbor's subiss: the subject followed by the issuer.
func (o *OIDCUser) SubIss() string { return o.Subject + o.Issuer }

// OIDCStore keeps OIDC users.
type OIDCStore interface {
	// CreateOIDCUser creates u and its link o (o.UserID is set) in one
	// transaction: ErrConflict if the name or the issuer and subject are
	// taken.
	CreateOIDCUser(ctx context.Context, u *User, o *OIDCUser) error
	// GetOIDCUser returns the link of a user: ErrNotFound for a user not
	// onboarded through OIDC.
	GetOIDCUser(ctx context.Context, userID int64) (*OIDCUser, error)
	// GetOIDCUserBySubject finds the link of an issuer's subject.
	GetOIDCUserBySubject(ctx context.Context, issuer, subject string) (*OIDCUser, error)
	// SetOIDCSecret replaces the CLI secret's hash, set now.
	SetOIDCSecret(ctx context.Context, userID int64, hash string) error
	// SetOIDCAdmin sets the user's sysadmin flag and whether the admin
	// group granted it, together.
	SetOIDCAdmin(ctx context.Context, userID int64, sysAdmin, byGroup bool) error
	// SetOIDCGroups replaces the user's group names.
	SetOIDCGroups(ctx context.Context, userID int64, groups []string) error
}
