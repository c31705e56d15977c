package app

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// TestWebUIMounted: with access control the web UI answers at /, signs in
// with the API's session and writes through the API with the session's
// CSRF token, and the other endpoints keep their handlers.
func TestWebUIMounted(t *testing.T) {
	base := authServer(t, func(ctx context.Context, s *sqlstore.Store) {})
	client := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	get := func(c *http.Client, path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	c := client()
	resp, body := get(c, "/")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="principal"`) && !strings.Contains(body, "Projects") {
		t.Fatalf("/: %d", resp.StatusCode)
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("no CSP on the UI")
	}
	for path, want := range map[string]int{"/v2/": 401, "/api/v2.0/ping": 200, "/livez": 200, "/api/v2.0/nothing": 404} {
		if resp, _ := get(client(), path); resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err := c.PostForm(base+"/login", url.Values{"principal": {"admin"}, "password": {adminPassword}, "next": {"/projects/library"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/projects/library" || !strings.Contains(string(b), "Sign out") {
		t.Fatalf("sign in: %d %s", resp.StatusCode, resp.Request.URL)
	}
	// The form's CSRF token creates a project through the API.
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
	if token == nil {
		t.Fatal("no CSRF token")
	}
	resp, err = c.PostForm(base+"/projects", url.Values{"csrf": {token[1]}, "name": {"from-ui"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/projects/from-ui" {
		t.Fatalf("create project: at %s", resp.Request.URL)
	}
	if resp, _ := get(c, "/api/v2.0/projects/from-ui"); resp.StatusCode != 200 {
		t.Fatalf("project not created: %d", resp.StatusCode)
	}
}
