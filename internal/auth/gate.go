package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/forwarded"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// Gate guards the registry API: it authenticates a request (Bearer token,
// Basic credentials or none) and checks it may act on the scopes the
// endpoint needs. It also serves the token endpoint.
type Gate struct {
	Auth   *Authenticator
	Tokens *TokenService
	// Realm is the token endpoint URL put in challenges; empty derives it
	// from ExternalURL plus TokenPath.
	Realm string
	// ExternalURL is how clients reach berth (--external-url); empty
	// derives it from the request where that is safe (forwarded.BaseURL).
	ExternalURL string
	// AutoCreateProjects lets a system administrator's push create a
	// missing project (private, owned by the administrator).
	AutoCreateProjects bool
	// Log receives the causes of internal errors (nil: not logged).
	Log *slog.Logger
}

// TokenPath is where the token endpoint is served.
const TokenPath = "/service/token"

// Challenge is an authorization failure: 401 with a WWW-Authenticate
// challenge (Status 401) or 403 DENIED for an authenticated caller.
type Challenge struct {
	Status          int
	WWWAuthenticate string
	Message         string
}

func (c *Challenge) Error() string { return c.Message }

func (g *Gate) realm(r *http.Request) string {
	if g.Realm != "" {
		return g.Realm
	}
	return forwarded.BaseURL(r, g.ExternalURL) + TokenPath
}

func (g *Gate) challenge(r *http.Request, scopes []rbac.Scope, errCode, msg string) *Challenge {
	h := fmt.Sprintf(`Bearer realm=%q,service=%q`, g.realm(r), g.Tokens.Service)
	if len(scopes) > 0 {
		parts := make([]string, len(scopes))
		for i, s := range scopes {
			parts[i] = s.String()
		}
		h += fmt.Sprintf(`,scope=%q`, strings.Join(parts, " "))
	}
	if errCode != "" {
		h += fmt.Sprintf(`,error=%q`, errCode)
	}
	return &Challenge{Status: http.StatusUnauthorized, WWWAuthenticate: h, Message: msg}
}

// identify authenticates the request's credentials, if any.
func (g *Gate) identify(r *http.Request) (*Identity, *Claims, error) {
	h := r.Header.Get("Authorization")
	switch {
	case len(h) > 7 && strings.EqualFold(h[:7], "Bearer "):
		c, err := g.Tokens.Verify(strings.TrimSpace(h[7:]))
		if err != nil {
			return nil, nil, err
		}
		if c.Groups != "" {
			return g.directoryToken(r.Context(), c)
		}
		return &Identity{Kind: UserKind, Name: c.Subject}, c, nil
	case len(h) > 6 && strings.EqualFold(h[:6], "Basic "):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, nil, ErrBadCredentials
		}
		id, err := g.Auth.Login(r.Context(), user, pass, r.RemoteAddr)
		return id, nil, err
	}
	return AnonymousIdentity, nil, nil
}

// directoryToken checks a token issued to a directory user against the
// user's groups now (the directory's answer, cached for
// ldap_group_cache_ttl): while they are those the token was issued with,
// its grants stand; once they differ, the grants are set aside and the
// request is judged by the user's rights now (nil claims), so group
// changes apply to tokens within the cache time as they do to Basic
// credentials and sessions. A user gone from the directory is refused.
// While the directory cannot be reached the token stands as issued.
func (g *Gate) directoryToken(ctx context.Context, c *Claims) (*Identity, *Claims, error) {
	id := &Identity{Kind: UserKind, Name: c.Subject, External: true}
	if g.Auth.Groups != nil {
		groups, admin, err := g.Auth.Groups.UserGroups(ctx, id)
		if errors.Is(err, ErrBadCredentials) {
			return nil, nil, fmt.Errorf("%w: the user is no longer in the directory", ErrInvalidToken)
		}
		if errors.Is(err, ErrDirectoryUnavailable) {
			// The token was good when issued; while the directory cannot
			// tell, it stands (a pull under way does not fail) until it
			// expires. New sign-ins fail fast meanwhile.
			return id, c, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if GroupsFingerprint(groups, admin) == c.Groups {
			return id, c, nil
		}
	}
	now, err := g.identityOf(ctx, c.Subject)
	if err != nil {
		return nil, nil, err
	}
	now.External = true
	return now, nil, nil
}

// Authorize checks r may perform every scope; on success the returned
// context carries the caller's Identity.
func (g *Gate) Authorize(r *http.Request, scopes []rbac.Scope) (context.Context, error) {
	id, claims, err := g.identify(r)
	switch {
	case errors.Is(err, ErrInvalidToken):
		return nil, g.challenge(r, scopes, "invalid_token", "authentication required: the token is invalid or expired")
	case errors.Is(err, ErrBadCredentials), errors.Is(err, ErrLocked):
		return nil, g.challenge(r, scopes, "", err.Error())
	case err != nil:
		return nil, err
	}
	ctx := WithIdentity(r.Context(), id)
	if claims != nil { // a token carries its own grants: no database work
		for _, s := range scopes {
			if !claims.Allows(s.Type, s.Name, s.Actions) {
				return nil, g.challenge(r, scopes, "insufficient_scope", "the token does not grant "+s.String())
			}
		}
		return ctx, nil
	}
	if len(scopes) == 0 && id.Kind == Anonymous {
		return nil, g.challenge(r, nil, "", "authentication required")
	}
	for _, s := range scopes {
		granted, err := g.grant(r.Context(), id, s)
		if err != nil {
			return nil, err
		}
		if len(granted) < len(s.Actions) {
			if id.Kind == Anonymous {
				return nil, g.challenge(r, scopes, "", "authentication required")
			}
			return nil, &Challenge{Status: http.StatusForbidden, Message: g.denial(r.Context(), id, s)}
		}
	}
	return ctx, nil
}

// denial explains a refusal. Only a system administrator, who may see
// every project, learns that the project does not exist; anyone else gets
// the same answer for a missing project and for one they may not use.
func (g *Gate) denial(ctx context.Context, id *Identity, s rbac.Scope) string {
	if reason := g.missingProject(ctx, id, s); reason != "" {
		return reason
	}
	return "requested access to the resource is denied: " + s.String()
}

// missingProject is the reason a system administrator's request on a
// repository of a project that does not exist fails, or "".
func (g *Gate) missingProject(ctx context.Context, id *Identity, s rbac.Scope) string {
	if s.Type != "repository" || id.Kind != UserKind || !id.SysAdmin {
		return ""
	}
	if _, err := g.Auth.Store.GetProjectByName(ctx, ProjectOf(s.Name)); errors.Is(err, meta.ErrNotFound) {
		if g.AutoCreateProjects && NumericName(ProjectOf(s.Name)) {
			return fmt.Sprintf("project %q does not exist and is not created: a project name must not be all digits", ProjectOf(s.Name))
		}
		return fmt.Sprintf("project %q does not exist: create it first", ProjectOf(s.Name))
	}
	return ""
}

// ProjectOf is the project of a repository name: its first path segment.
func ProjectOf(repo string) string {
	if i := strings.IndexByte(repo, '/'); i >= 0 {
		return repo[:i]
	}
	return repo
}

// grant returns the subset of s.Actions id may perform, in order.
func (g *Gate) grant(ctx context.Context, id *Identity, s rbac.Scope) ([]string, error) {
	switch s.Type {
	case "registry":
		if s.Name == "catalog" && id.Kind == UserKind && id.SysAdmin {
			return s.Actions, nil
		}
		return nil, nil
	case "repository":
	default:
		return nil, nil
	}
	project := ProjectOf(s.Name)
	if project == s.Name { // repositories live inside a project
		return nil, nil
	}
	subj, _, err := g.Auth.Subject(ctx, id, project)
	if errors.Is(err, meta.ErrNotFound) && g.AutoCreateProjects && id.Kind == UserKind && id.SysAdmin && contains(s.Actions, "push") && !NumericName(project) {
		err = g.Auth.Store.CreateProject(ctx, &meta.Project{Name: project, OwnerID: id.UserID})
		if errors.Is(err, meta.ErrConflict) {
			err = nil
		}
		if err == nil {
			subj, _, err = g.Auth.Subject(ctx, id, project)
		}
	}
	if errors.Is(err, meta.ErrNotFound) {
		// A system administrator may look anywhere (and is told 404);
		// anyone else learns nothing about what does not exist.
		if id.Kind == UserKind && id.SysAdmin {
			return rbac.Grant(rbac.Subject{Authenticated: true, Role: rbac.RoleMaintainer}, without(s.Actions, "push")), nil
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return rbac.Grant(subj, s.Actions), nil
}

func without(list []string, drop string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if x != drop {
			out = append(out, x)
		}
	}
	return out
}

// CanPull reports whether the caller of r may pull from repo, judged by
// who the caller is rather than only by what its token already grants:
// a blob mount names its source repository after the token was issued.
func (g *Gate) CanPull(r *http.Request, repo string) bool { return g.may(r, repo, "pull") }

// CanPush reports whether the caller of r may push to repo, whatever its
// token was issued for (the signature policy's bypass for signing clients,
// which read a manifest with a pull-only token before they push).
func (g *Gate) CanPush(r *http.Request, repo string) bool { return g.may(r, repo, "push") }

func (g *Gate) may(r *http.Request, repo, action string) bool {
	id, claims, err := g.identify(r)
	if err != nil {
		return false
	}
	if claims != nil {
		if claims.Allows("repository", repo, []string{action}) {
			return true
		}
		if id, err = g.identityOf(r.Context(), claims.Subject); err != nil {
			return false
		}
	}
	granted, err := g.grant(r.Context(), id, rbac.Scope{Type: "repository", Name: repo, Actions: []string{action}})
	return err == nil && len(granted) == 1
}

// identityOf rebuilds the identity a token was issued to, as it is now (a
// disabled account or an expired robot has no rights).
func (g *Gate) identityOf(ctx context.Context, name string) (*Identity, error) {
	if name == AnonymousIdentity.Name {
		return AnonymousIdentity, nil
	}
	if strings.HasPrefix(name, RobotPrefix) {
		rb, err := g.Auth.Store.GetRobotByName(ctx, name)
		if err != nil || rb.Disabled || !rb.ExpiresAt.IsZero() && time.Now().After(rb.ExpiresAt) {
			return nil, ErrBadCredentials
		}
		return &Identity{Kind: RobotKind, Name: rb.Name, Robot: rb}, nil
	}
	u, err := g.Auth.Store.GetUserByName(ctx, name)
	if err != nil || u.Disabled {
		return nil, ErrBadCredentials
	}
	id := &Identity{Kind: UserKind, Name: u.Username, UserID: u.ID, SysAdmin: u.SysAdmin}
	return id, g.Auth.Enrich(ctx, id)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v || x == "*" {
			return true
		}
	}
	return false
}

// ServeToken is the Docker token endpoint: GET with optional Basic
// credentials, service and scope parameters (or a POST of the OAuth2
// password grant). It grants the intersection of what was asked and what
// the caller may do.
func (g *Gate) ServeToken(w http.ResponseWriter, r *http.Request) {
	var id *Identity
	var err error
	// The epoch is read before the credentials are checked: a revocation
	// landing while the token is made still applies to it.
	var epoch int64
	claimed, _, ok := r.BasicAuth()
	if !ok {
		claimed = AnonymousIdentity.Name
	}
	switch r.Method {
	case http.MethodGet:
		epoch = g.Tokens.Revocations.Epoch(claimed)
		id, _, err = g.identify(r)
		if err == nil && r.Header.Get("Authorization") != "" && strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer") {
			err = ErrBadCredentials // a token cannot buy another token
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if perr := r.ParseForm(); perr != nil || r.PostForm.Get("grant_type") != "password" {
			tokenError(w, http.StatusBadRequest, "UNSUPPORTED", "only the password grant is supported")
			return
		}
		claimed = r.PostForm.Get("username")
		epoch = g.Tokens.Revocations.Epoch(claimed)
		id, err = g.Auth.Login(r.Context(), claimed, r.PostForm.Get("password"), r.RemoteAddr)
	default:
		tokenError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "use GET or POST")
		return
	}
	if err != nil {
		if errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrLocked) || errors.Is(err, ErrInvalidToken) {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
			return
		}
		g.tokenServerError(w, r, err)
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.Form
	}
	if svc := q.Get("service"); svc != "" && svc != g.Tokens.Service {
		tokenError(w, http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("unknown service %q", svc))
		return
	}
	access := []Access{}
	for _, raw := range q["scope"] {
		for _, one := range strings.Fields(raw) {
			s, err := rbac.ParseScope(one)
			if err != nil {
				tokenError(w, http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("invalid scope %q", one))
				return
			}
			granted, err := g.grant(r.Context(), id, s)
			if err != nil {
				g.tokenServerError(w, r, err)
				return
			}
			// A token without push would make docker print only "denied:
			// requested access to the resource is denied"; an administrator
			// pushing into a missing project is told why instead.
			if contains(s.Actions, "push") && !contains(granted, "push") {
				if reason := g.missingProject(r.Context(), id, s); reason != "" {
					tokenError(w, http.StatusForbidden, "DENIED", reason)
					return
				}
			}
			access = append(access, Access{Type: s.Type, Name: s.Name, Actions: granted})
		}
	}
	if id.Name != claimed { // the account's own spelling keys its epoch
		epoch = g.Tokens.Revocations.Epoch(id.Name)
	}
	var groups string
	if id.External && id.Kind == UserKind { // checked again at each use (directoryToken)
		groups = GroupsFingerprint(id.Groups, id.GroupAdmin)
	}
	tok, issued, err := g.Tokens.issue(id.Name, epoch, groups, access)
	if err != nil {
		g.tokenServerError(w, r, err)
		return
	}
	body, _ := json.Marshal(map[string]any{
		"token": tok, "access_token": tok, "expires_in": int(g.Tokens.TTL / time.Second), "issued_at": issued.UTC().Format(time.RFC3339),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func tokenError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
