package ui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// waitStatus reloads the page until the element id shows Success.
func (c *chrome) waitStatus(what, id string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for eval[string](c, `(document.getElementById('`+id+`')||{}).innerText||''`) != "Success" {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not done", what)
		}
		time.Sleep(100 * time.Millisecond)
		c.do("reload", chromedp.Reload())
	}
}

// TestBrowserLifecycle drives the lifecycle pages in headless Chromium: a
// retention rule made with the form, a dry run and its result, the
// quotas, audit purge and garbage collection pages; every page checked
// for console errors, labels and landmarks, with screenshots.
func TestBrowserLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.ArtifactDir()
	c := newChrome(t, dir)
	e := lifecycleEnv(t)
	base := e.srv.URL

	c.open(base+"/login", "l01-sign-in")
	c.do("sign in", chromedp.SendKeys("#principal", "dev"), chromedp.SendKeys("#password", password("dev")), chromedp.Click("#sign-in"))
	c.waitFor("signed in", `location.pathname === "/projects" && !!document.getElementById('sign-out')`)

	// The Policies tab: an empty policy, then a rule made with the form.
	c.open(base+"/projects/secret", "l02-project")
	c.do("policies tab", chromedp.Click(`a[href="/projects/secret/policies"]`))
	c.waitFor("policies", `location.pathname === "/projects/secret/policies" && !!document.getElementById('save-rule')`)
	c.page("l03-policies-empty")
	c.do("rule form", chromedp.SetValue("#rule-template", "latestPushedK"), chromedp.SetValue("#rule-param", "1"),
		chromedp.SetValue("#retention-repo", "app"), chromedp.SetValue("#retention-tag", "v*"), chromedp.Click("#save-rule"))
	c.waitFor("rule created", `!!document.querySelector('.flash') && document.getElementById('retention-rules').innerText.includes('matching app')`)
	c.page("l04-rule-created")
	c.do("schedule", chromedp.SetValue("#retention-cron", "0 0 3 * * *"), chromedp.Click("#save-schedule"))
	c.waitFor("schedule saved", `!!document.querySelector('.flash') && document.querySelector('.flash').innerText.includes('Schedule saved')`)
	c.page("l04b-schedule-saved")
	if got := eval[string](c, `(document.querySelector('main code')||{}).innerText||''`); got != "0 0 3 * * *" {
		t.Errorf("schedule shown %q (flash %q)", got, eval[string](c, `document.querySelector('.flash').innerText`))
	}

	// Dry run: the run's page, then one repository's report and log.
	c.do("dry run", chromedp.Click("#dry-run"))
	c.waitFor("run page", `location.pathname.startsWith("/projects/secret/policies/runs/")`)
	c.waitStatus("dry run", "run-status")
	c.page("l05-dry-run")
	if n := eval[string](c, `document.getElementById('run-deleted').innerText`); n != "2" {
		t.Errorf("dry run would delete %s artifacts, want 2", n)
	}
	c.do("task", chromedp.Click(`#retention-tasks a`))
	c.waitFor("task page", `!!document.getElementById('task-log')`)
	c.page("l06-dry-run-task")
	if !eval[bool](c, `document.getElementById('task-deleted').innerText.includes('v1') && !document.getElementById('task-deleted').innerText.includes('v3')`) {
		t.Error("the dry run's report does not list v1 (and only the older tags)")
	}
	c.open(base+"/projects/secret/policies", "l07-policies-with-run")
	if !eval[bool](c, `document.getElementById('retention-runs').innerText.includes('Success')`) {
		t.Error("the run is not listed")
	}
	for _, tag := range []string{"v1", "v2", "v3"} {
		if _, err := e.store.GetManifest(e.ctx, "secret/app", tag, false); err != nil {
			t.Errorf("the dry run deleted %s", tag)
		}
	}

	// Administration, as admin.
	c.do("sign out", chromedp.Click("#sign-out"))
	c.waitFor("signed out", `!document.getElementById('sign-out')`)
	c.open(base+"/login", "l08-sign-in-admin")
	c.do("sign in admin", chromedp.SendKeys("#principal", "admin"), chromedp.SendKeys("#password", password("admin")), chromedp.Click("#sign-in"))
	c.waitFor("admin signed in", `!!document.getElementById('sign-out')`)
	c.open(base+"/admin/quotas", "l09-quotas")
	c.do("set quota", chromedp.SetValue(`#quota-table input[name=storage_gib]`, "5"), chromedp.Click(`#quota-table button`))
	c.waitFor("quota saved", `!!document.querySelector('.flash') && document.querySelector('.flash').innerText.includes('Quota updated') && document.getElementById('quota-table').innerText.includes('5.0 GiB')`)
	c.page("l10-quota-saved")
	c.open(base+"/admin/purgeaudit", "l11-purge")
	c.do("purge dry run", chromedp.Click("#job-dry-run"))
	c.waitFor("purge run page", `location.pathname.startsWith("/admin/purgeaudit/")`)
	c.waitStatus("purge", "job-status")
	c.page("l12-purge-run")
	c.open(base+"/admin/gc", "l13-gc")
	c.do("gc dry run", chromedp.Click("#job-dry-run"))
	c.waitFor("gc run page", `location.pathname.startsWith("/admin/gc/")`)
	c.waitStatus("gc", "job-status")
	c.page("l14-gc-run")
	if strings.TrimSpace(eval[string](c, `document.getElementById('job-log').innerText`)) == "" {
		t.Error("no gc log")
	}
	c.open(base+"/lang/zh-CN?next=/admin/gc", "l15-gc-chinese")
	if !eval[bool](c, `document.body.innerText.includes('垃圾回收') && document.body.innerText.includes('历史记录')`) {
		t.Error("gc page not in Chinese")
	}
	c.open(base+"/projects/secret/policies", "l16-policies-chinese")
	t.Logf("screenshots in %s", dir)
}
