package config

import (
	"flag"
	"fmt"
	"time"
)

// Auth configures access control.
type Auth struct {
	Enabled            bool
	TokenTTL           time.Duration
	TokenKey           string
	SessionKey         string
	TokenRealm         string
	TokenService       string
	AutoCreateProjects bool
	AuditRetentionDays int
	LoginSlowAfter     int
	LoginLockAfter     int
	LoginLockout       time.Duration
}

// DefaultAuth: access control on, 30-minute tokens, 90 days of audit log.
func DefaultAuth() Auth {
	return Auth{
		Enabled: true, TokenTTL: 30 * time.Minute, TokenService: "berth",
		AuditRetentionDays: 90, LoginSlowAfter: 5, LoginLockAfter: 10, LoginLockout: 15 * time.Minute,
	}
}

func (a *Auth) flags(fs *flag.FlagSet) {
	fs.BoolVar(&a.Enabled, "auth", a.Enabled, "require authentication and enforce project roles (false: anyone may push and pull)")
	fs.DurationVar(&a.TokenTTL, "token-ttl", a.TokenTTL, "lifetime of registry tokens from /service/token")
	fs.StringVar(&a.TokenKey, "token-key", a.TokenKey, "PEM EC key that signs tokens (default DATA_DIR/token.key, created on first start; share it between replicas)")
	fs.StringVar(&a.SessionKey, "session-key", a.SessionKey, "hex key file that signs API login sessions and CSRF tokens (default DATA_DIR/session.key, created on first start; share it between replicas)")
	fs.StringVar(&a.TokenRealm, "token-realm", a.TokenRealm, "token endpoint URL announced to clients (default: derived from each request's Host)")
	fs.StringVar(&a.TokenService, "token-service", a.TokenService, "service name in tokens and challenges")
	fs.BoolVar(&a.AutoCreateProjects, "auto-create-projects", a.AutoCreateProjects, "let a system administrator's push create a missing project")
	fs.IntVar(&a.AuditRetentionDays, "audit-retention-days", a.AuditRetentionDays, "days of audit log kept while no audit purge schedule is set (/system/purgeaudit/schedule)")
	fs.IntVar(&a.LoginSlowAfter, "login-slow-after", a.LoginSlowAfter, "failed logins (per user or address) before answers slow down")
	fs.IntVar(&a.LoginLockAfter, "login-lock-after", a.LoginLockAfter, "failed logins before logins are refused for --login-lockout")
	fs.DurationVar(&a.LoginLockout, "login-lockout", a.LoginLockout, "how long logins stay refused after too many failures")
}

func (a *Auth) validate() error {
	switch {
	case a.TokenTTL < time.Minute || a.TokenTTL > 24*time.Hour:
		return fmt.Errorf("token-ttl %s: want between 1m and 24h", a.TokenTTL)
	case a.TokenService == "":
		return fmt.Errorf("token-service must not be empty")
	case a.AuditRetentionDays < 1:
		return fmt.Errorf("audit-retention-days %d: want at least 1", a.AuditRetentionDays)
	case a.LoginSlowAfter < 1 || a.LoginLockAfter <= a.LoginSlowAfter:
		return fmt.Errorf("login-lock-after %d must exceed login-slow-after %d (>= 1)", a.LoginLockAfter, a.LoginSlowAfter)
	case a.LoginLockout < time.Second:
		return fmt.Errorf("login-lockout %s: want at least 1s", a.LoginLockout)
	}
	return nil
}
