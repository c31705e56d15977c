package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/forwarded"
	"github.com/berth-registry/berth/internal/meta"
)

// Cookie and header names, as Harbor's.
const (
	sessionCookie = "sid"
	csrfCookie    = "__csrf"
	csrfHeader    = "X-Harbor-CSRF-Token"
)

// LoadOrCreateSessionKey reads the hex key in path, creating it with 32
// random bytes on first start. Replicas share a key by sharing the file.
func LoadOrCreateSessionKey(path string) ([]byte, error) {
	for range 2 {
		b, err := os.ReadFile(path)
		if err == nil {
			key, err := hex.DecodeString(strings.TrimSpace(string(b)))
			if err != nil || len(key) < 32 {
				return nil, fmt.Errorf("session key %s: want at least 32 hex-encoded bytes", path)
			}
			return key, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue // another process created it first
		}
		if err != nil {
			return nil, err
		}
		_, err = f.WriteString(hex.EncodeToString(key) + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return key, err
	}
	return nil, fmt.Errorf("session key %s: created and removed concurrently", path)
}

func (s *Server) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.opt.SessionKey)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return m.Sum(nil)
}

// fingerprint ties a session to the password it was opened with: changing
// the password ends every session.
func fingerprint(passwordHash string) string {
	sum := sha256.Sum256([]byte(passwordHash))
	return hex.EncodeToString(sum[:8])
}

// newSession returns a cookie value "uid.expiry.fingerprint.epoch.sid.mac":
// sid is a random id that logout revokes; epoch is the account's
// revocation epoch, so disabling or deleting it ends the session.
func (s *Server) newSession(u *meta.User) string {
	var sid [16]byte
	_, _ = rand.Read(sid[:])
	payload := strconv.FormatInt(u.ID, 10) + "." + strconv.FormatInt(time.Now().Add(s.opt.SessionTTL).Unix(), 10) +
		"." + fingerprint(u.PasswordHash) + "." + strconv.FormatInt(s.revocations().Epoch(u.Username), 10) +
		"." + hex.EncodeToString(sid[:])
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
}

func (s *Server) revocations() *auth.Revocations { return s.opt.Auth.Revocations }

// session is a verified session cookie.
type session struct {
	uid         int64
	fingerprint string
	epoch       int64
	id          string
}

// parseSession verifies a cookie's signature, expiry and that it was not
// logged out; ok is false otherwise.
func (s *Server) parseSession(value string) (sess session, ok bool) {
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return sess, false
	}
	payload, sig := value[:i], value[i+1:]
	want := base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return sess, false
	}
	f := strings.Split(payload, ".")
	if len(f) != 5 {
		return sess, false
	}
	uid, err1 := strconv.ParseInt(f[0], 10, 64)
	exp, err2 := strconv.ParseInt(f[1], 10, 64)
	epoch, err3 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || time.Now().Unix() > exp || s.revocations().SessionRevoked(f[4]) {
		return sess, false
	}
	return session{uid: uid, fingerprint: f[2], epoch: epoch, id: f[4]}, true
}

// sessionIdentity verifies a session cookie value and loads its user.
// Any failure yields nil: the request is then anonymous.
func (s *Server) sessionIdentity(ctx context.Context, value string) (*auth.Identity, error) {
	sess, valid := s.parseSession(value)
	if !valid {
		return nil, nil
	}
	u, err := s.opt.Access.GetUser(ctx, sess.uid)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled || fingerprint(u.PasswordHash) != sess.fingerprint || sess.epoch < s.revocations().Epoch(u.Username) {
		return nil, nil
	}
	id := &auth.Identity{Kind: auth.UserKind, Name: u.Username, UserID: u.ID, SysAdmin: u.SysAdmin}
	if err := s.opt.Auth.Enrich(ctx, id); errors.Is(err, auth.ErrBadCredentials) {
		return nil, nil // gone from the directory: the session ends
	} else if err != nil {
		return nil, err
	}
	return id, nil
}

// csrfToken is derived from the session, so any replica can check it.
func (s *Server) csrfToken(session string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", session))
}

// unsafeMethod: the methods that change state and need a CSRF token when
// authenticated by cookie.
func unsafeMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch || m == http.MethodDelete
}

// authenticate establishes the caller: Basic credentials, else a session
// cookie (with CSRF checks on writes), else anonymous.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (context.Context, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, errUnauthorized("only Basic authorization is accepted by the API")
		}
		id, err := s.opt.Auth.Login(ctx, user, pass, r.RemoteAddr)
		if errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrLocked) {
			return nil, errUnauthorized(err.Error())
		}
		if err != nil {
			return nil, err
		}
		return auth.WithIdentity(ctx, id), nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return auth.WithIdentity(ctx, auth.AnonymousIdentity), nil
	}
	id, err := s.sessionIdentity(ctx, c.Value)
	if err != nil {
		return nil, err
	}
	if id == nil {
		return auth.WithIdentity(ctx, auth.AnonymousIdentity), nil
	}
	token := s.csrfToken(c.Value)
	w.Header().Set(csrfHeader, token)
	if unsafeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(token)) != 1 {
		return nil, errForbidden("CSRF token invalid: send the " + csrfHeader + " header received with a previous response")
	}
	return auth.WithIdentity(ctx, id), nil
}

// maxLoginBody bounds the login form: a name and a password.
const maxLoginBody = 16 << 10

// login implements POST /c/login (form fields principal and password): it
// sets the session cookie and returns the CSRF token. Only a URL-encoded
// form is read, never multipart (whose file parts net/http would spool to
// disk), and only from the registry's own pages or from non-browser
// clients (login CSRF).
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return &Error{http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "send the form as application/x-www-form-urlencoded"}
	}
	if r.ContentLength > maxLoginBody {
		return errTooLarge(maxLoginBody)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return errTooLarge(maxLoginBody)
		}
		return errBadRequest("invalid form: " + err.Error())
	}
	principal, password := r.PostForm.Get("principal"), r.PostForm.Get("password")
	if principal == "" || strings.HasPrefix(principal, auth.RobotPrefix) {
		return errUnauthorized("invalid username or password")
	}
	if err := s.oidcPasswordLogin(principal); err != nil {
		return err
	}
	id, err := s.opt.Auth.Login(r.Context(), principal, password, r.RemoteAddr)
	if errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrLocked) {
		return errUnauthorized(err.Error())
	}
	if err != nil {
		return err
	}
	u, err := s.opt.Access.GetUser(r.Context(), id.UserID)
	if err != nil {
		return err
	}
	s.startSession(w, r, u)
	return ok(w)
}

// startSession sets the session and CSRF cookies of a new session of u
// (after /c/login or an OIDC sign-in).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *meta.User) {
	value := s.newSession(u)
	secure := s.secure(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.opt.SessionTTL.Seconds())})
	token := s.csrfToken(value)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: "/", Secure: secure, SameSite: http.SameSiteLaxMode,
		MaxAge: int(s.opt.SessionTTL.Seconds())})
	w.Header().Set(csrfHeader, token)
}

// secure: cookies get the Secure attribute whenever clients reach berth
// over HTTPS, directly or through a trusted proxy.
func (s *Server) secure(r *http.Request) bool {
	return forwarded.Secure(r) || strings.HasPrefix(s.opt.ExternalURL, "https://")
}

// checkOrigin refuses a browser request sent from another site's page:
// Sec-Fetch-Site must be same-origin (or none: typed by the user), and
// Origin, when sent, must be this registry (its external URL, or the
// scheme and Host the browser used). Clients that send neither header
// (curl, scripts) are not browsers and cannot be made to send a request
// by a third party.
func (s *Server) checkOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errForbidden("cross-site request refused")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if strings.EqualFold(origin, forwarded.Scheme(r)+"://"+r.Host) ||
		s.opt.ExternalURL != "" && strings.EqualFold(origin, originOf(s.opt.ExternalURL)) {
		return nil
	}
	return errForbidden("cross-origin request refused")
}

// originOf is scheme://host[:port] of a URL.
func originOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[:i+3+j]
		}
	}
	return u
}

// logout implements GET /c/logout: the session ends on every replica
// (its id is revoked), and the cookies are cleared.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if sess, valid := s.parseSession(c.Value); valid {
			if err := s.revocations().RevokeSession(r.Context(), sess.id); err != nil {
				return err
			}
		}
	}
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == sessionCookie,
			Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	}
	return ok(w)
}
