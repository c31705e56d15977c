package ui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/internal/scan"
)

// chrome is one headless Chromium tab with the console watched.
type chrome struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	mu   sync.Mutex
	errs []string
	// expected are page URLs whose error status is the point (the
	// sign-in form answering a private page): Chromium logs it.
	expected map[string]bool
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newChrome starts Chromium with the flags of TOOLING.md.
func newChrome(t *testing.T, dir string) *chrome {
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium not installed (scripts/install-test-tools.sh apt installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900)}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	c := &chrome{t: t, ctx: ctx, dir: dir}
	c.watch(ctx)
	return c
}

// tab opens a tab in a new browser context: no cookies shared.
func (c *chrome) incognito() *chrome {
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	c.t.Cleanup(cancel)
	o := &chrome{t: c.t, ctx: ctx, dir: c.dir}
	o.watch(ctx)
	return o
}

// watch records console errors, uncaught exceptions and browser log
// errors (CSP violations, failed loads).
func (c *chrome) watch(ctx context.Context) {
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error()
		case *log.EventEntryAdded:
			c.mu.Lock()
			expected := c.expected[e.Entry.URL] && strings.HasPrefix(e.Entry.Text, "Failed to load resource: the server responded with a status of 401")
			c.mu.Unlock()
			if !expected && (e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning) {
				msg = "log: " + e.Entry.Text + " " + e.Entry.URL
			}
		}
		if msg != "" {
			c.mu.Lock()
			c.errs = append(c.errs, msg)
			c.mu.Unlock()
		}
	}); err != nil {
		c.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chrome) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](c *chrome, js string) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		c.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition.
func (c *chrome) waitFor(what, js string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc := eval[string](c, "location.href")
			c.t.Fatalf("%s: timed out waiting for %s (at %s): %v", what, js, loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// page checks the page now shown: no console error so far, every input
// labelled, one h1, a main landmark; and saves a screenshot.
func (c *chrome) page(name string) {
	c.t.Helper()
	c.waitFor(name, `document.readyState === "complete"`)
	unlabelled := eval[[]string](c, `Array.from(document.querySelectorAll('input:not([type=hidden]),select,textarea'))
		.filter(e => !(e.id && document.querySelector('label[for="' + CSS.escape(e.id) + '"]')) && !e.getAttribute('aria-label') && !e.closest('label'))
		.map(e => e.outerHTML)`)
	if len(unlabelled) > 0 {
		c.t.Errorf("%s: inputs without a label: %v", name, unlabelled)
	}
	if n := eval[int](c, `document.querySelectorAll('h1').length`); n != 1 {
		c.t.Errorf("%s: %d h1 headings", name, n)
	}
	if !eval[bool](c, `!!document.querySelector('main') && !!document.querySelector('header nav')`) {
		c.t.Errorf("%s: landmarks missing", name)
	}
	var png []byte
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		c.t.Errorf("%s: console errors: %v", name, c.errs)
		c.errs = nil
	}
}

func (c *chrome) open(url, name string) {
	c.t.Helper()
	c.do("open "+url, chromedp.Navigate(url))
	c.page(name)
}

// sessionPages are the pages of the later sessions' features (webhooks,
// scanning and signature policies, the security hub), opened in English
// and in Chinese.
var sessionPages = []string{"/projects/secret/webhooks", "/projects/secret/security", "/admin/scanning",
	"/admin/vulnerabilities", "/admin/vulnerabilities?severity=Critical"}

// pageFile is a screenshot's name for page path p.
func pageFile(p string) string {
	return strings.NewReplacer("/", "-", "?", "-", "=", "-").Replace(strings.Trim(p, "/"))
}

// TestBrowser drives the UI in headless Chromium through the issue's
// steps. Screenshots: the test's artifact directory (go test -artifacts
// -outputdir DIR keeps them under DIR).
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.ArtifactDir()
	c := newChrome(t, dir)
	var sc *scan.Scanner
	e, newest := bigEnv(t, withScanner(t, &sc))
	base := e.srv.URL
	// Scanned images for the security pages: secret/web built on
	// secret/base.
	e.catalogued(e.push("secret/base", nil, "12"), []string{"debian"}, zlib)
	e.catalogued(e.push("secret/web", nil, "v1", "latest"), []string{"debian", "web"}, libssl, zlib)
	scanAll(t, e, sc)

	// Signed out: a private project's URL shows the sign-in form.
	anon := c.incognito()
	anon.expected = map[string]bool{base + "/projects/secret": true}
	anon.open(base+"/projects/secret", "01-signed-out-private-project")
	if !eval[bool](anon, `!!document.getElementById('principal') && !document.body.innerText.includes('secret/app')`) {
		t.Fatal("a signed-out browser sees the private project")
	}

	// Sign in.
	c.open(base+"/login", "02-sign-in")
	c.do("sign in", chromedp.SendKeys("#principal", "admin"), chromedp.SendKeys("#password", password("admin")), chromedp.Click("#sign-in"))
	c.waitFor("projects after sign-in", `location.pathname === "/projects" && !!document.getElementById('sign-out')`)
	c.page("03-projects")

	// Project → repository (10,000 artifacts) → artifact.
	c.do("project", chromedp.Click(`a[href="/projects/secret"]`))
	c.waitFor("project page", `location.pathname === "/projects/secret" && !!document.getElementById('h-summary')`)
	c.page("04-project")
	c.do("repository", chromedp.Click(`a[href="/projects/secret/repositories/app"]`))
	c.waitFor("repository page", `location.pathname === "/projects/secret/repositories/app" && document.readyState === "complete"`)
	visible := eval[float64](c, `performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd - performance.getEntriesByType('navigation')[0].startTime`)
	t.Logf("repository of %d artifacts: first page visible (DOMContentLoaded) %.0f ms after the click's navigation started", bigArtifacts, visible)
	if visible > 1000 && !raceDetector {
		t.Errorf("repository page took %.0f ms to show", visible)
	}
	c.page("05-repository-10k")
	if n := eval[int](c, `document.querySelectorAll('table.artifacts tbody tr').length`); n != 15 {
		t.Errorf("%d rows on the first page", n)
	}
	c.do("artifact", chromedp.Click(`a[href$="`+string(newest)+`"]`))
	c.waitFor("artifact page", `!!document.getElementById('h-pull')`)
	c.page("06-artifact")

	// Copy the pull command.
	pull := eval[string](c, `document.getElementById('pull-0').value`)
	if want := "docker pull " + strings.TrimPrefix(base, "http://") + "/secret/app:t"; !strings.HasPrefix(pull, want) {
		t.Errorf("pull command %q, want prefix %q", pull, want)
	}
	c.do("copy", chromedp.Click("#copy-pull-0"))
	c.waitFor("copied", `document.getElementById('copy-pull-0').getAttribute('data-copied') === 'true'`)

	// Delete a tag.
	tag := fmt.Sprintf("t%05d", bigArtifacts-1)
	c.do("delete tag", chromedp.Click("#delete-tag-"+tag))
	c.waitFor("tag deleted", `!!document.querySelector('.flash') && !document.getElementById('delete-tag-`+tag+`')`)
	c.page("07-tag-deleted")
	if _, err := e.store.GetManifest(e.ctx, "secret/app", tag, false); err == nil {
		t.Error("tag still there")
	}

	// Create a project.
	c.open(base+"/projects", "08-projects-form")
	c.do("create project", chromedp.SendKeys("#new-name", "made-in-browser"), chromedp.Click("#create-project"))
	c.waitFor("project created", `location.pathname === "/projects/made-in-browser"`)
	c.page("09-project-created")

	// Add a member.
	c.open(base+"/projects/made-in-browser/members", "10-members")
	c.do("add member", chromedp.SendKeys("#member-name", "dev"), chromedp.Click("#add-member"))
	c.waitFor("member added", `!!document.querySelector('.flash') && document.querySelector('main table').innerText.includes('dev')`)
	c.page("11-member-added")

	// Create a robot account: the secret is shown once.
	c.open(base+"/projects/made-in-browser/robots", "12-robots")
	c.do("create robot", chromedp.SendKeys("#robot-name", "ci"), chromedp.Click("#create-robot"))
	c.waitFor("robot secret", `!!document.getElementById('robot-secret')`)
	secret := eval[string](c, `document.getElementById('robot-secret').value`)
	if len(secret) < 16 {
		t.Errorf("robot secret %q", secret)
	}
	c.page("13-robot-secret")
	c.open(base+"/projects/made-in-browser/robots", "14-robots-after")
	if eval[bool](c, `document.documentElement.outerHTML.includes(`+fmt.Sprintf("%q", secret)+`)`) {
		t.Error("robot secret shown again")
	}

	// The other pages.
	for i, p := range []string{"/projects/secret/labels", "/projects/secret/logs", "/projects/secret/immutability",
		"/admin/users", "/admin/robots", "/admin/audit", "/admin/configuration", "/admin/system", "/search?q=app"} {
		c.open(base+p, fmt.Sprintf("%02d-%s", 15+i, strings.NewReplacer("/", "-", "?", "-", "=", "-").Replace(strings.Trim(p, "/"))))
	}

	// The pages of this session's features (webhooks, scanning and
	// signature policies).
	for i, p := range sessionPages {
		c.open(base+p, fmt.Sprintf("%02d-%s", 40+i, pageFile(p)))
	}
	// The security hub, filtered by base image from its form.
	c.open(base+"/admin/vulnerabilities", "45-hub")
	if n := eval[int](c, `document.querySelectorAll('#hub tbody tr').length`); n != 3 {
		t.Errorf("hub: %d rows, want 3", n)
	}
	c.do("filter by base image", chromedp.SendKeys("#hub-base", "secret/base:12"), chromedp.Click("#hub-filter"))
	c.waitFor("hub filtered", `location.search.includes('base_image=') && document.querySelectorAll('#hub tbody tr').length === 2 && !!document.getElementById('hub-clear')`)
	c.page("46-hub-base-image")
	// The project's CVE allowlist, edited in its form.
	c.open(base+"/projects/secret/security", "47-security-before-allowlist")
	c.do("allowlist", chromedp.Click("#allow-project"), chromedp.SendKeys("#allow-cves", "CVE-2024-0001\nCVE-2023-45853"),
		chromedp.SendKeys("#allow-expires", "2030-01-31"), chromedp.Click("#save-allowlist"))
	c.waitFor("allowlist saved", `!!document.querySelector('.flash') && document.getElementById('allow-cves').value.includes('CVE-2023-45853')`)
	c.page("48-security-allowlist")

	// Dark mode: the colour scheme follows the system's.
	if _, err := chromedp.Call(c.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	c.open(base+"/projects/secret/repositories/app", "24-dark-repository")
	if bg := eval[string](c, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark mode background %s", bg)
	}
	if _, err := chromedp.Call(c.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}

	// Search as you type.
	c.do("type", chromedp.SendKeys("#q-header", "app"))
	c.waitFor("suggestions", `!document.getElementById('suggest-list').hidden && document.getElementById('suggest-list').innerText.includes('secret/app')`)

	// Switch language, then sign out.
	c.open(base+"/projects", "25-before-switch")
	c.do("switch", chromedp.Click("#lang-switch"))
	c.waitFor("chinese", `document.documentElement.lang === "zh-CN" && document.body.innerText.includes('项目')`)
	c.page("26-chinese")
	// This session's pages in Chinese too.
	for i, p := range sessionPages {
		c.open(base+p, fmt.Sprintf("%02d-zh-%s", 50+i, pageFile(p)))
	}
	c.do("sign out", chromedp.Click("#sign-out"))
	c.waitFor("signed out", `!document.getElementById('sign-out') && document.documentElement.lang === "zh-CN"`)
	c.page("27-signed-out")
	c.mu.Lock()
	c.expected = map[string]bool{base + "/projects/secret": true}
	c.mu.Unlock()
	c.open(base+"/projects/secret", "28-signed-out-again")
	if !eval[bool](c, `!!document.getElementById('principal')`) {
		t.Error("the private project is visible after sign-out")
	}
	t.Logf("screenshots in %s", dir)
}
