package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/rbac"
)

const adminPassword = "admin-password-1"

// authServer runs berth with access control on a fresh data directory that
// setup may fill through the store first.
func authServer(t *testing.T, setup func(ctx context.Context, s *sqlstore.Store)) string {
	t.Helper()
	return authServerWith(t, setup, nil)
}

// authServerWith is authServer with changes to the default configuration.
func authServerWith(t *testing.T, setup func(ctx context.Context, s *sqlstore.Store), configure func(*config.Config)) string {
	t.Helper()
	auth.BcryptCost = 4 // the minimum: these tests log in hundreds of times
	t.Setenv("BERTH_ADMIN_PASSWORD", adminPassword)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AccessLog = false
	if configure != nil {
		configure(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	if setup != nil {
		st, err := sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := bootstrap(ctx, st, log); err != nil {
			t.Fatal(err)
		}
		setup(ctx, st)
		st.Close()
	}
	runCtx, cancel := context.WithCancel(ctx)
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- Run(runCtx, cfg, log, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-addrc:
		return "http://" + a
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return ""
}

type creds struct{ user, pass string }

func call(t *testing.T, method, url string, c *creds, bearer string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.SetBasicAuth(c.user, c.pass)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// token runs the token flow: ok is false when the endpoint refuses.
func token(t *testing.T, base string, c *creds, scope string) (tok string, granted []string, ok bool) {
	t.Helper()
	status, _, body := call(t, "GET", base+"/service/token?service=berth&scope="+scope, c, "", nil)
	if status == http.StatusUnauthorized {
		return "", nil, false
	}
	if status != 200 {
		t.Fatalf("token endpoint: %d %s", status, body)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil || raw["token"] == nil || raw["access_token"] != raw["token"] ||
		raw["expires_in"] == nil || raw["issued_at"] == nil {
		t.Fatalf("token response %s", body)
	}
	tok = raw["token"].(string)
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Access []auth.Access }
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for _, a := range claims.Access {
		granted = append(granted, a.Actions...)
	}
	return tok, granted, true
}

const manifestType = "application/vnd.oci.image.manifest.v1+json"

// seedImage pushes a config, a layer and a manifest tagged "base" as admin.
func seedImage(t *testing.T, base, repo string) []byte {
	t.Helper()
	admin := &creds{"admin", adminPassword}
	cfg, layer := []byte(`{"os":"linux"}`), []byte("layer of "+repo)
	for _, b := range [][]byte{cfg, layer} {
		st, _, body := call(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), admin, "", b)
		if st != 201 {
			t.Fatalf("seed blob: %d %s", st, body)
		}
	}
	man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		manifestType, digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer)))
	if st, _, body := call(t, "PUT", base+"/v2/"+repo+"/manifests/base", admin, "", man, "Content-Type", manifestType); st != 201 {
		t.Fatalf("seed manifest: %d %s", st, body)
	}
	return man
}

// TestAccessMatrix walks every role, anonymous, robots (pull-only, push,
// expired, disabled) and a disabled user × pull/push/delete × a public and
// a private project, through the real token flow, and checks each answer.
func TestAccessMatrix(t *testing.T) {
	const pw = "user-password-1"
	users := map[string]rbac.Role{"padmin": rbac.RoleProjectAdmin, "maint": rbac.RoleMaintainer, "dev": rbac.RoleDeveloper,
		"guest": rbac.RoleGuest, "limited": rbac.RoleLimitedGuest, "outsider": rbac.RoleNone, "disabled": rbac.RoleDeveloper}
	robotSecret := "robot-secret-1234"
	base := authServer(t, func(ctx context.Context, s *sqlstore.Store) {
		hash, _ := auth.HashPassword(pw)
		rhash, _ := auth.HashPassword(robotSecret)
		for _, p := range []meta.Project{{Name: "pub", Public: true, OwnerID: 1}, {Name: "priv", OwnerID: 1}} {
			if err := s.CreateProject(ctx, &p); err != nil {
				t.Fatal(err)
			}
			for name, role := range users {
				u, err := s.GetUserByName(ctx, name)
				if err != nil {
					u = &meta.User{Username: name, PasswordHash: hash, Disabled: name == "disabled"}
					if err := s.CreateUser(ctx, u); err != nil {
						t.Fatal(err)
					}
				}
				if role != rbac.RoleNone {
					if err := s.SetMember(ctx, p.ID, u.ID, int(role)); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for _, r := range []meta.Robot{
			{Name: "robot$puller", Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}},
			{Name: "robot$pusher", Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull", "push"}}}},
			{Name: "robot$expired", ExpiresAt: time.Now().Add(-time.Hour), Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull", "push"}}}},
			{Name: "robot$off", Disabled: true, Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull", "push"}}}},
		} {
			r.Level, r.SecretHash = "system", rhash
			if err := s.CreateRobot(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
	})
	manifests := map[string][]byte{"pub": seedImage(t, base, "pub/app"), "priv": seedImage(t, base, "priv/app")}

	type row struct{ pull, push, del bool }
	y, n := true, false
	private := map[string]row{
		"admin": {y, y, y}, "padmin": {y, y, y}, "maint": {y, y, y}, "dev": {y, y, n}, "guest": {y, n, n}, "limited": {y, n, n},
		"outsider": {n, n, n}, "disabled": {n, n, n}, "anonymous": {n, n, n},
		"robot$puller": {y, n, n}, "robot$pusher": {y, y, n}, "robot$expired": {n, n, n}, "robot$off": {n, n, n},
	}
	public := map[string]row{}
	for who, r := range private {
		public[who] = r
	}
	public["outsider"], public["anonymous"] = row{y, n, n}, row{y, n, n}

	for _, project := range []string{"pub", "priv"} {
		want := private
		if project == "pub" {
			want = public
		}
		for who, exp := range want {
			t.Run(project+"/"+who, func(t *testing.T) {
				var c *creds
				switch {
				case who == "admin":
					c = &creds{"admin", adminPassword}
				case strings.HasPrefix(who, "robot$"):
					c = &creds{who, robotSecret}
				case who != "anonymous":
					c = &creds{who, pw}
				}
				repo := project + "/app"
				tok, granted, ok := token(t, base, c, "repository:"+repo+":pull,push,delete")
				loginShouldFail := who == "disabled" || who == "robot$expired" || who == "robot$off"
				if ok == loginShouldFail {
					t.Fatalf("token endpoint accepted=%v, want %v", ok, !loginShouldFail)
				}
				if !ok {
					return // a client whose login is refused stops here
				}
				wantGranted := []string{}
				for a, allowed := range map[string]bool{"pull": exp.pull, "push": exp.push, "delete": exp.del} {
					if allowed {
						wantGranted = append(wantGranted, a)
					}
				}
				slices.Sort(wantGranted)
				slices.Sort(granted)
				if !slices.Equal(granted, wantGranted) {
					t.Fatalf("token grants %v, want %v", granted, wantGranted)
				}
				check := func(action string, allowed bool, status int, body []byte) {
					t.Helper()
					denied := status == http.StatusUnauthorized || status == http.StatusForbidden
					if allowed == denied || status >= 500 {
						t.Errorf("%s: status %d (%s), want allowed=%v", action, status, body, allowed)
					}
				}
				st, _, body := call(t, "GET", base+"/v2/"+repo+"/manifests/base", nil, tok, nil)
				check("pull", exp.pull, st, body)
				tag := "t-" + strings.NewReplacer("$", "-").Replace(who)
				st, _, body = call(t, "PUT", base+"/v2/"+repo+"/manifests/"+tag, nil, tok, manifests[project], "Content-Type", manifestType)
				check("push", exp.push, st, body)
				// Something to delete, tagged by the administrator.
				admin := &creds{"admin", adminPassword}
				if st, _, body := call(t, "PUT", base+"/v2/"+repo+"/manifests/del-"+tag, admin, "", manifests[project], "Content-Type", manifestType); st != 201 {
					t.Fatalf("admin tag: %d %s", st, body)
				}
				st, _, body = call(t, "DELETE", base+"/v2/"+repo+"/manifests/del-"+tag, nil, tok, nil)
				check("delete", exp.del, st, body)
			})
		}
	}
}

// TestChallengesAndBasic covers the challenge headers, Basic auth straight
// on /v2/ (403 DENIED for an authenticated caller without the right), the
// catalog, and pushes into a project that does not exist.
func TestChallengesAndBasic(t *testing.T) {
	base := authServer(t, func(ctx context.Context, s *sqlstore.Store) {
		hash, _ := auth.HashPassword("guest-password")
		u := &meta.User{Username: "g", PasswordHash: hash}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		lib, _ := s.GetProjectByName(ctx, "library")
		if err := s.SetMember(ctx, lib.ID, u.ID, int(rbac.RoleGuest)); err != nil {
			t.Fatal(err)
		}
	})
	st, h, _ := call(t, "GET", base+"/v2/", nil, "", nil)
	if st != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="`+base+`/service/token",service="berth"`) {
		t.Fatalf("/v2/ anonymous: %d %q", st, h.Get("WWW-Authenticate"))
	}
	st, h, _ = call(t, "PUT", base+"/v2/library/x/manifests/v1", nil, "", []byte("{}"))
	if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `scope="repository:library/x:push"`) {
		t.Fatalf("push anonymous: %d %q", st, h.Get("WWW-Authenticate"))
	}
	guest := &creds{"g", "guest-password"}
	if st, _, _ := call(t, "GET", base+"/v2/", guest, "", nil); st != 200 {
		t.Fatalf("/v2/ with Basic: %d", st)
	}
	st, _, body := call(t, "POST", base+"/v2/library/x/blobs/uploads/", guest, "", nil)
	if st != 403 || !strings.Contains(string(body), `"DENIED"`) {
		t.Fatalf("guest push with Basic: %d %s", st, body)
	}
	if st, _, _ := call(t, "GET", base+"/v2/_catalog", guest, "", nil); st != 403 {
		t.Fatalf("catalog as guest: %d", st)
	}
	if st, _, _ := call(t, "GET", base+"/v2/_catalog", &creds{"admin", adminPassword}, "", nil); st != 200 {
		t.Fatalf("catalog as admin: %d", st)
	}
	st, _, body = call(t, "POST", base+"/v2/nosuch/x/blobs/uploads/", &creds{"admin", adminPassword}, "", nil)
	if st != 403 || !strings.Contains(string(body), `project \"nosuch\" does not exist`) {
		t.Fatalf("push into a missing project: %d %s", st, body)
	}
	if st, _, _ := call(t, "GET", base+"/v2/", &creds{"g", "wrong"}, "", nil); st != 401 {
		t.Fatalf("bad password: %d", st)
	}
	// A token is not accepted as credentials for another token, and a
	// forged one is refused.
	tok, _, _ := token(t, base, guest, "repository:library/x:pull")
	if st, _, _ := call(t, "GET", base+"/service/token?service=berth", nil, tok, nil); st != 401 {
		t.Fatalf("token for token: %d", st)
	}
	forged := tok[:len(tok)-4] + "AAAA"
	if st, h, _ := call(t, "GET", base+"/v2/library/x/tags/list", nil, forged, nil); st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("forged token: %d %q", st, h.Get("WWW-Authenticate"))
	}
}

// TestBruteForce: failures slow down, then lock the account; the correct
// password is refused while locked; failures are audited.
func TestBruteForce(t *testing.T) {
	base := authServer(t, nil)
	bad := &creds{"admin", "wrong-password"}
	start := time.Now()
	var last int
	for i := 0; i < 10; i++ {
		last, _, _ = call(t, "GET", base+"/service/token?service=berth", bad, "", nil)
	}
	if last != 401 {
		t.Fatalf("bad password: %d", last)
	}
	// 5 free failures, then 1+2+3+4 s of delay before the lock at 10.
	if el := time.Since(start); el < 8*time.Second {
		t.Fatalf("10 failures took %s: no slow-down", el)
	}
	if st, _, _ := call(t, "GET", base+"/service/token?service=berth", &creds{"admin", adminPassword}, "", nil); st != 401 {
		t.Fatalf("correct password while locked: %d", st)
	}
}
