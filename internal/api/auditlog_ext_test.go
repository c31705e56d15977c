package api

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

func TestAuditLogExts(t *testing.T) {
	e := newEnv(t)
	// Login attempts are recorded as the server does (internal/app).
	e.authn.OnLogin = func(ctx context.Context, name, remote string, ok bool) {
		e.api.opt.Audit(meta.AuditRecord{Username: name, Remote: remote, Operation: "login", ResourceType: "user", Resource: name, Success: ok})
	}
	dev, limited, outsider := e.user("dev", false), e.user("limited", false), e.user("outsider", false)
	e.project("team", false, map[cred]int{dev: int(rbac.RoleDeveloper), limited: int(rbac.RoleLimitedGuest)})
	e.project("other", false, nil)
	e.push("team/app", "v1")
	e.expect(201, dev, "POST", Prefix+"/projects/team/repositories/app/artifacts/v1/tags", map[string]string{"name": "stable"})
	e.expect(201, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "made"})
	e.expect(401, cred{"dev", "wrong-Password1"}, "GET", Prefix+"/users/current", nil)

	all := decode[[]auditLogExt](t, e.expect(200, e.admin, "GET", Prefix+"/auditlog-exts?page_size=100", nil))
	var failed, tagged *auditLogExt
	for i, l := range all {
		switch {
		case l.Operation == "login" && !l.OperationResult:
			failed = &all[i]
		case l.Operation == "create" && l.ResourceType == "tag":
			tagged = &all[i]
		}
	}
	if failed == nil || failed.Username != "dev" || failed.ClientIP == "" {
		t.Errorf("failed login: %+v in %+v", failed, all)
	}
	if tagged == nil || !tagged.OperationResult || tagged.Resource != "team/app:stable" || tagged.ClientIP == "" ||
		tagged.OperationDescription != "create tag: team/app:stable" || time.Since(time.Time(tagged.OpTime)) > time.Minute {
		t.Errorf("tag record: %+v", tagged)
	}
	for i := 1; i < len(all); i++ {
		if time.Time(all[i].OpTime).After(time.Time(all[i-1].OpTime)) {
			t.Errorf("not newest first: %+v", all)
		}
	}

	q := func(c cred, path, query string) []auditLogExt {
		t.Helper()
		return decode[[]auditLogExt](t, e.expect(200, c, "GET", Prefix+path+"?page_size=100&q="+url.QueryEscape(query), nil))
	}
	if got := q(e.admin, "/auditlog-exts", "operation=create,resource_type=project"); len(got) != 1 || got[0].Resource != "made" {
		t.Errorf("q=operation=create,resource_type=project: %+v", got)
	}
	if got := q(e.admin, "/auditlog-exts", "resource=~APP:st"); len(got) != 1 || got[0].ResourceType != "tag" {
		t.Errorf("q=resource=~APP:st: %+v", got)
	}
	logins := q(e.admin, "/auditlog-exts", "username={dev nobody},operation=login")
	if !slices.ContainsFunc(logins, func(l auditLogExt) bool { return !l.OperationResult }) ||
		slices.ContainsFunc(logins, func(l auditLogExt) bool { return l.Username != "dev" || l.Operation != "login" }) {
		t.Errorf("q=username={dev nobody},operation=login: %+v", logins)
	}
	if got := q(e.admin, "/auditlog-exts", "op_time=[2000-01-01 00:00:00~2001-01-01 00:00:00]"); len(got) != 0 {
		t.Errorf("q=op_time in 2000: %+v", got)
	}
	if got := q(e.admin, "/auditlog-exts", "op_time=["+time.Now().UTC().Add(-time.Hour).Format("2006-01-02 15:04:05")+"~]"); len(got) != len(all) {
		t.Errorf("q=op_time from an hour ago: %d of %d", len(got), len(all))
	}
	resp, _ := e.req(e.admin, "GET", Prefix+"/auditlog-exts?page=1&page_size=1&sort=op_time", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") == "1" || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Errorf("paging: %d %v", resp.StatusCode, resp.Header)
	}
	e.expect(400, e.admin, "GET", Prefix+"/auditlog-exts?q=nosuchkey%3Dx", nil)
	e.expect(400, e.admin, "GET", Prefix+"/auditlog-exts?sort=op_time:desc", nil)
	e.expect(403, dev, "GET", Prefix+"/auditlog-exts", nil)
	e.expect(401, cred{}, "GET", Prefix+"/auditlog-exts", nil)

	// The project's log: its members who may read logs, without addresses.
	team := q(dev, "/projects/team/auditlog-exts", "")
	if len(team) != 1 || team[0].Resource != "team/app:stable" || team[0].ClientIP != "" {
		t.Errorf("team log for dev: %+v", team)
	}
	if admin := q(e.admin, "/projects/team/auditlog-exts", "operation=create"); len(admin) != 1 || admin[0].ClientIP == "" {
		t.Errorf("team log for admin: %+v", admin)
	}
	e.expect(403, limited, "GET", Prefix+"/projects/team/auditlog-exts", nil)
	e.expect(404, outsider, "GET", Prefix+"/projects/team/auditlog-exts", nil)
	e.expect(404, e.admin, "GET", Prefix+"/projects/nope/auditlog-exts", nil)
	e.expect(400, dev, "GET", Prefix+"/projects/team/auditlog-exts?q=op_time%3Dyesterday", nil)
	if other := q(e.admin, "/projects/other/auditlog-exts", ""); len(other) != 0 {
		t.Errorf("other project's log: %+v", other)
	}

	events := decode[[]struct {
		EventType string `json:"event_type"`
	}](t, e.expect(200, e.admin, "GET", Prefix+"/auditlog-exts/events", nil))
	var types []string
	for _, ev := range events {
		types = append(types, ev.EventType)
	}
	if !slices.Equal(types, auditEventTypes) {
		t.Errorf("event types: %v", types)
	}
	for _, l := range all { // every record is of a listed type
		if !slices.Contains(types, l.Operation+"_"+l.ResourceType) {
			t.Errorf("record of unlisted type %s_%s", l.Operation, l.ResourceType)
		}
	}
	e.expect(403, dev, "GET", Prefix+"/auditlog-exts/events", nil)
	e.expect(401, cred{}, "GET", Prefix+"/auditlog-exts/events", nil)
}

// TestAuditEventTypesRecorded: every audit record the code writes with a
// literal operation and resource type (the API's s.record, the registry's
// r.audit, the server's login records) is of a type listAuditLogEventTypes
// names. A new record type fails here until it is added to
// auditEventTypes.
func TestAuditEventTypesRecorded(t *testing.T) {
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`s\.record\([^,]+, r, "(\w+)", "(\w+)"`),
		regexp.MustCompile(`r\.audit\(req, "(\w+)", "(\w+)"`),
		regexp.MustCompile(`Operation: "(\w+)", ResourceType: "(\w+)"`),
	}
	var files []string
	for _, glob := range []string{"*.go", "../registry/*.go", "../app/*.go"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range patterns {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				found++
				if typ := m[1] + "_" + m[2]; !slices.Contains(auditEventTypes, typ) {
					t.Errorf("%s records %s, which auditEventTypes lacks", f, typ)
				}
			}
		}
	}
	if found < 20 {
		t.Fatalf("found only %d audit records in the sources: the patterns no longer match the code", found)
	}
}
