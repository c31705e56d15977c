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
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/auth"
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

// newSession returns a cookie value "uid.expiry.fingerprint.mac".
func (s *Server) newSession(uid int64, passwordHash string) string {
	payload := strconv.FormatInt(uid, 10) + "." + strconv.FormatInt(time.Now().Add(s.opt.SessionTTL).Unix(), 10) +
		"." + fingerprint(passwordHash)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
}

// sessionIdentity verifies a session cookie value and loads its user.
// Any failure yields nil: the request is then anonymous.
func (s *Server) sessionIdentity(ctx context.Context, value string) (*auth.Identity, error) {
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return nil, nil
	}
	payload, sig := value[:i], value[i+1:]
	want := base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return nil, nil
	}
	f := strings.Split(payload, ".")
	if len(f) != 3 {
		return nil, nil
	}
	uid, err1 := strconv.ParseInt(f[0], 10, 64)
	exp, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || time.Now().Unix() > exp {
		return nil, nil
	}
	u, err := s.opt.Access.GetUser(ctx, uid)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled || fingerprint(u.PasswordHash) != f[2] {
		return nil, nil
	}
	return &auth.Identity{Kind: auth.UserKind, Name: u.Username, UserID: u.ID, SysAdmin: u.SysAdmin}, nil
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

// login implements POST /c/login (form fields principal and password): it
// sets the session cookie and returns the CSRF token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	principal, password := r.PostFormValue("principal"), r.PostFormValue("password")
	if principal == "" || strings.HasPrefix(principal, auth.RobotPrefix) {
		return errUnauthorized("invalid username or password")
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
	value := s.newSession(u.ID, u.PasswordHash)
	secure := r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.opt.SessionTTL.Seconds())})
	token := s.csrfToken(value)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: "/", Secure: secure, SameSite: http.SameSiteLaxMode,
		MaxAge: int(s.opt.SessionTTL.Seconds())})
	w.Header().Set(csrfHeader, token)
	return ok(w)
}

// logout implements GET /c/logout: it clears the cookies.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == sessionCookie,
			Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
	return ok(w)
}
