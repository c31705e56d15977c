package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignInAndOut(t *testing.T) {
	e := newEnv(t)
	b := e.browser("")
	resp, body := b.get("/login")
	if resp.StatusCode != 200 || !strings.Contains(body, `<label for="principal">`) || !strings.Contains(body, `<label for="password">`) {
		t.Fatalf("sign-in page: %d %s", resp.StatusCode, body)
	}
	resp, body = b.post("/login", url.Values{"principal": {"admin"}, "password": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid user name or password.") {
		t.Fatalf("bad password: %d", resp.StatusCode)
	}
	resp, _ = b.post("/login", url.Values{"principal": {"admin"}, "password": {password("admin")}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/projects" {
		t.Fatalf("sign in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sid *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "sid" {
			sid = c
		}
	}
	if sid == nil || !sid.HttpOnly || sid.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie: %+v", sid)
	}
	_, body = b.get("/projects")
	if !strings.Contains(body, "Sign out") || !strings.Contains(body, "Administration") {
		t.Fatal("signed-in header missing")
	}
	// A sign-out without the form's token (a cross-site form) is refused.
	resp, _ = b.post("/logout", url.Values{})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: %d", resp.StatusCode)
	}
	resp, _ = b.submit("/projects", "/logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	_, body = b.get("/projects")
	if strings.Contains(body, "Sign out") {
		t.Fatal("still signed in after sign-out")
	}
	// A cross-site sign-in (login CSRF) is refused by the API.
	resp, _ = b.do(http.MethodPost, "/login", url.Values{"principal": {"admin"}, "password": {password("admin")}},
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("cross-site sign in: %d %v", resp.StatusCode, resp.Cookies())
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/projects", "/login", "/static/app.js"} {
		resp, _ := e.browser("").get(path)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
	_, body := e.browser("").get("/login")
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
		t.Error("inline script or style in a page")
	}
}

// TestFormsNeedCSRF: a form posted without the session's token changes
// nothing (the API refuses it).
func TestFormsNeedCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser("admin")
	resp, _ := b.post("/projects", url.Values{"name": {"forged"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := e.store.GetProjectByName(e.ctx, "forged"); err == nil {
		t.Fatal("project created without a CSRF token")
	}
	_, body := b.get("/projects")
	if !strings.Contains(body, "CSRF") {
		t.Error("no message about the refused form")
	}
	resp, _ = b.submit("/projects", "/projects", url.Values{"name": {"real"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/real" {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := e.store.GetProjectByName(e.ctx, "real"); err != nil {
		t.Fatal(err)
	}
}

func TestLanguage(t *testing.T) {
	e := newEnv(t)
	b := e.browser("")
	_, body := b.get("/login", "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")
	if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "登录") {
		t.Fatal("Accept-Language zh-CN not honoured")
	}
	_, body = b.get("/login", "Accept-Language", "en-GB")
	if !strings.Contains(body, `<html lang="en">`) {
		t.Fatal("English expected")
	}
	resp, _ := b.get("/lang/zh-CN?next=/login")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("switch: %d", resp.StatusCode)
	}
	_, body = b.get("/login", "Accept-Language", "en")
	if !strings.Contains(body, `<html lang="zh-CN">`) {
		t.Fatal("the chosen language is not remembered")
	}
}
