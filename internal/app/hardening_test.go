package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// multipartBody streams a multipart form with one file part of size bytes.
func multipartBody(size int64) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	_ = mw.SetBoundary("berth-test-boundary")
	go func() {
		_ = mw.WriteField("principal", "admin")
		fw, err := mw.CreateFormFile("password", "big.bin")
		if err == nil {
			_, err = io.Copy(fw, io.LimitReader(zeros{}, size))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

// multipartLen is the length of multipartBody(size).
func multipartLen(size int64) int64 {
	empty, _ := multipartBody(0)
	n, _ := io.Copy(io.Discard, empty)
	return n + size
}

// TestHugeBodiesToUnauthenticatedEndpoints: a 100 MB multipart body sent
// without credentials to any endpoint is refused (413, or 400/401/415 when
// it is refused before the body matters), never read whole, and nothing
// is written to disk — neither with a declared length nor chunked.
func TestHugeBodiesToUnauthenticatedEndpoints(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	base := authServer(t, nil)
	const size = 100 << 20
	// reads: the endpoint takes a body, so it must refuse this one. The
	// others never read a body: with a declared length they refuse it
	// at once, a chunked one they ignore (and net/http discards).
	endpoints := []struct {
		method, path string
		reads        bool
	}{
		{"POST", "/c/login", true}, {"GET", "/c/logout", false}, {"POST", "/c/nowhere", false},
		{"POST", "/service/token", true}, {"GET", "/service/token", false},
		{"POST", "/api/v2.0/projects", true}, {"POST", "/api/v2.0/users", true}, {"PUT", "/api/v2.0/users/1/password", true},
		{"POST", "/api/v2.0/robots", true}, {"GET", "/api/v2.0/systeminfo", false},
		{"POST", "/v2/library/x/blobs/uploads/", true}, {"PUT", "/v2/library/x/manifests/latest", true},
		{"GET", "/livez", false}, {"POST", "/readyz", false}, {"POST", "/nothing-here", false},
	}
	for _, chunked := range []bool{false, true} {
		for _, ep := range endpoints {
			body, ctype := multipartBody(size)
			req, _ := http.NewRequest(ep.method, base+ep.path, body)
			req.Header.Set("Content-Type", ctype)
			if !chunked {
				req.ContentLength = multipartLen(size)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			res, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err != nil {
				cancel()
				t.Fatalf("%s %s (chunked %t): no answer: %v", ep.method, ep.path, chunked, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			cancel()
			switch {
			case res.StatusCode >= 500:
				t.Errorf("%s %s (chunked %t): %d", ep.method, ep.path, chunked, res.StatusCode)
			case !ep.reads && chunked:
			case res.StatusCode == 400, res.StatusCode == 401, res.StatusCode == 413, res.StatusCode == 415:
			default:
				t.Errorf("%s %s (chunked %t): %d, want 413 (or 400/401/415)", ep.method, ep.path, chunked, res.StatusCode)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // let handlers finish
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if i, err := e.Info(); err == nil {
			t.Errorf("left behind in TMPDIR: %s (%d bytes)", e.Name(), i.Size())
		}
	}
}

// login signs in through /c/login with a cookie jar, sending extra headers.
func login(t *testing.T, base, user, pass string, hdr ...string) (*http.Client, *http.Response) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	req, _ := http.NewRequest("POST", base+"/c/login", strings.NewReader(url.Values{"principal": {user}, "password": {pass}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return c, res
}

func currentUser(t *testing.T, c *http.Client, base string, cookies []*http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v2.0/users/current", nil)
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestSessions: logout ends the session on the server (the old cookie no
// longer works), the login form refuses other sites' pages and multipart
// bodies, and the cookie is Secure behind a trusted HTTPS proxy.
func TestSessions(t *testing.T) {
	base := authServerWith(t, nil, func(c *config.Config) { c.Proxy.TrustedProxies = []string{"127.0.0.1"} })
	c, res := login(t, base, "admin", adminPassword)
	if res.StatusCode != 200 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	u, _ := url.Parse(base)
	old := c.Jar.Cookies(u)
	if currentUser(t, http.DefaultClient, base, old) != 200 {
		t.Fatal("session cookie does not work")
	}
	lo, err := c.Get(base + "/c/logout")
	if err != nil {
		t.Fatal(err)
	}
	lo.Body.Close()
	if st := currentUser(t, http.DefaultClient, base, old); st != 401 {
		t.Fatalf("the session cookie kept from before logout: %d, want 401", st)
	}

	for _, hdr := range [][]string{
		{"Origin", "http://evil.example"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "null"},
	} {
		if _, res := login(t, base, "admin", adminPassword, hdr...); res.StatusCode != 403 {
			t.Errorf("login with %v: %d, want 403", hdr, res.StatusCode)
		}
	}
	if _, res := login(t, base, "admin", adminPassword, "Origin", base, "Sec-Fetch-Site", "same-origin"); res.StatusCode != 200 {
		t.Errorf("login from the registry's own page: %d", res.StatusCode)
	}
	body, ctype := multipartBody(10)
	st, _, _ := call(t, "POST", base+"/c/login", nil, "", mustRead(body), "Content-Type", ctype)
	if st != 415 {
		t.Errorf("multipart login: %d, want 415", st)
	}

	_, res = login(t, base, "admin", adminPassword, "X-Forwarded-Proto", "https", "X-Forwarded-For", "203.0.113.5")
	for _, ck := range res.Cookies() {
		if !ck.Secure {
			t.Errorf("cookie %s not Secure behind an HTTPS proxy", ck.Name)
		}
	}
	st, hdr, _ := call(t, "GET", base+"/v2/", nil, "", nil, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "reg.example.com")
	if want := `realm="https://reg.example.com/service/token"`; st != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), want) {
		t.Errorf("challenge behind a trusted proxy: %d %q, want %s", st, hdr.Get("WWW-Authenticate"), want)
	}
}

func mustRead(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}

// TestClientAddressBehindProxy: the audit log and the limiter see the
// client named by a trusted proxy, and nobody else can pose as one.
func TestClientAddressBehindProxy(t *testing.T) {
	base := authServerWith(t, nil, func(c *config.Config) { c.Proxy.TrustedProxies = []string{"127.0.0.1/32"} })
	_, _, _ = call(t, "GET", base+"/service/token?service=berth", &creds{"admin", "wrong"}, "", nil, "X-Forwarded-For", "203.0.113.77")
	_, _, _ = call(t, "GET", base+"/service/token?service=berth", &creds{"admin", adminPassword}, "", nil, "X-Forwarded-For", "198.51.100.8, 203.0.113.78")
	remotes := auditRemotes(t, base, 2)
	if !remotes["203.0.113.77"] || !remotes["203.0.113.78"] || remotes["198.51.100.8"] {
		t.Fatalf("audit remotes %v: want the proxies' clients 203.0.113.77 and .78 (not the forged .8)", remotes)
	}
}

// auditRemotes polls the audit log until it holds at least n login records.
func auditRemotes(t *testing.T, base string, n int) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, body := call(t, "GET", base+"/api/v2.0/audit-logs?page_size=100", &creds{"admin", adminPassword}, "", nil)
		var logs []struct {
			Operation string `json:"operation"`
			Remote    string `json:"client_ip"`
		}
		if st == 200 && json.Unmarshal(body, &logs) == nil {
			got := map[string]bool{}
			count := 0
			for _, l := range logs {
				if strings.HasPrefix(l.Operation, "login") {
					got[l.Remote] = true
					count++
				}
			}
			if count >= n {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log: %d %s", st, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRevocationThroughAPI: a token stops working as soon as its user is
// disabled, deleted or changes password, or a robot's secret is refreshed.
func TestRevocationThroughAPI(t *testing.T) {
	base := authServer(t, func(ctx context.Context, s *sqlstore.Store) {
		p, _ := s.GetProjectByName(ctx, "library")
		for _, name := range []string{"dis", "del", "pw"} {
			u := &meta.User{Username: name, PasswordHash: mustHash(t, "Password-123")}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := s.SetMember(ctx, p.ID, u.ID, 2); err != nil {
				t.Fatal(err)
			}
		}
	})
	admin := &creds{"admin", adminPassword}
	seedImage(t, base, "library/app")
	users := map[string]int64{}
	for _, name := range []string{"dis", "del", "pw"} {
		_, _, body := call(t, "GET", base+"/api/v2.0/users?username="+name, admin, "", nil)
		var list []struct {
			ID int64 `json:"user_id"`
		}
		if json.Unmarshal(body, &list) != nil || len(list) != 1 {
			t.Fatalf("user %s: %s", name, body)
		}
		users[name] = list[0].ID
	}
	changes := map[string]func(){
		"dis": func() {
			call(t, "PUT", fmt.Sprintf("%s/api/v2.0/users/%d", base, users["dis"]), admin, "", []byte(`{"disabled":true}`), "Content-Type", "application/json")
		},
		"del": func() { call(t, "DELETE", fmt.Sprintf("%s/api/v2.0/users/%d", base, users["del"]), admin, "", nil) },
		"pw": func() {
			call(t, "PUT", fmt.Sprintf("%s/api/v2.0/users/%d/password", base, users["pw"]), admin, "",
				[]byte(`{"old_password":"Password-123","new_password":"Password-456"}`), "Content-Type", "application/json")
		},
	}
	for name, change := range changes {
		tok, _, ok := token(t, base, &creds{name, "Password-123"}, "repository:library/app:pull")
		if !ok {
			t.Fatalf("%s: no token", name)
		}
		if st, _, _ := call(t, "GET", base+"/v2/library/app/tags/list", nil, tok, nil); st != 200 {
			t.Fatalf("%s: token before the change: %d", name, st)
		}
		change()
		if st, _, _ := call(t, "GET", base+"/v2/library/app/tags/list", nil, tok, nil); st != 401 {
			t.Errorf("%s: token after the change: %d, want 401", name, st)
		}
	}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestProjectExistenceNotLeaked: a signed-in user who may not see a
// project gets the same answer on /v2 whether it exists or not; a system
// administrator pushing into a missing project is told why, through the
// token flow that docker uses.
func TestProjectExistenceNotLeaked(t *testing.T) {
	base := authServer(t, func(ctx context.Context, s *sqlstore.Store) {
		if err := s.CreateUser(ctx, &meta.User{Username: "mallory", PasswordHash: mustHash(t, "Password-123")}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateProject(ctx, &meta.Project{Name: "secret"}); err != nil {
			t.Fatal(err)
		}
	})
	m := &creds{"mallory", "Password-123"}
	st1, _, b1 := call(t, "POST", base+"/v2/secret/app/blobs/uploads/", m, "", nil)
	st2, _, b2 := call(t, "POST", base+"/v2/nosuch/app/blobs/uploads/", m, "", nil)
	n1 := strings.ReplaceAll(string(b1), "secret", "X")
	n2 := strings.ReplaceAll(string(b2), "nosuch", "X")
	if st1 != st2 || n1 != n2 {
		t.Fatalf("existing private project: %d %s\nmissing project: %d %s\nmust be the same", st1, b1, st2, b2)
	}
	st, _, body := call(t, "GET", base+"/service/token?service=berth&scope=repository:nosuch/app:pull,push", &creds{"admin", adminPassword}, "", nil)
	if st != 403 || !strings.Contains(string(body), `project \"nosuch\" does not exist`) {
		t.Fatalf("administrator's push token for a missing project: %d %s", st, body)
	}
	st, _, body = call(t, "GET", base+"/service/token?service=berth&scope=repository:nosuch/app:pull,push", m, "", nil)
	if st != 200 || strings.Contains(string(body), "nosuch\\\" does not") {
		t.Fatalf("a user's push token for a missing project: %d %s", st, body)
	}
}
