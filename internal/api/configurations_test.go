package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/rbac"
)

func TestConfigurations(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	get := func() map[string]configItem {
		t.Helper()
		return decode[map[string]configItem](t, e.expect(200, e.admin, "GET", Prefix+"/configurations", nil))
	}
	cfg := get()
	for k, want := range map[string]configItem{
		"auth_mode":                    {"db_auth", true},
		"robot_name_prefix":            {"robot$", false},
		"robot_token_duration":         {float64(30), true},
		"project_creation_restriction": {"everyone", true},
		"read_only":                    {false, true},
		"banner_message":               {"", true},
		"self_registration":            {false, false},
		"storage_per_project":          {float64(-1), true},
		"quota_per_project_enable":     {true, false},
		"notification_enable":          {false, false},
		"token_expiration":             {float64(30), false},
		"session_timeout":              {float64(12 * 60), false},
	} {
		if cfg[k] != want {
			t.Errorf("%s = %+v, want %+v", k, cfg[k], want)
		}
	}
	if !strings.HasPrefix(cfg["ext_endpoint"].Value.(string), "http://127.0.0.1:") {
		t.Errorf("ext_endpoint = %+v", cfg["ext_endpoint"])
	}
	e.expect(403, alice, "GET", Prefix+"/configurations", nil)
	e.expect(401, cred{}, "GET", Prefix+"/configurations", nil)
	e.expect(403, alice, "PUT", Prefix+"/configurations", map[string]any{"read_only": true})

	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"banner_message": "maintenance tonight",
		"robot_token_duration": 7})
	cfg = get()
	if cfg["banner_message"].Value != "maintenance tonight" || cfg["robot_token_duration"].Value != float64(7) ||
		cfg["read_only"].Value != false {
		t.Errorf("after PUT: %+v", cfg)
	}
	// Everything wrong is named; nothing changes.
	body := e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"banner_message": "changed",
		"http_proxy": "x", "token_expiration": 60, "robot_token_duration": 0, "read_only": "yes"})
	for _, want := range []string{"token_expiration: not editable (set by --token-ttl)", "http_proxy: berth has no such setting",
		"robot_token_duration: want a number of days from 1 to 36500", "read_only: want true or false"} {
		if !strings.Contains(body, want) {
			t.Errorf("400 does not say %q: %s", want, body)
		}
	}
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", map[string]any{"robot_name_prefix": "bot$"})
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", []string{"read_only"})
	e.expect(400, e.admin, "PUT", Prefix+"/configurations", nil)
	if cfg := get(); cfg["banner_message"].Value != "maintenance tonight" || cfg["robot_token_duration"].Value != float64(7) {
		t.Errorf("a refused PUT changed settings: %+v", cfg)
	}
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{})
	logs := e.expect(200, e.admin, "GET", Prefix+"/audit-logs?q=resource_type%3Dconfiguration", nil)
	if !strings.Contains(logs, `"resource":"banner_message,robot_token_duration"`) || strings.Count(logs, `"operation":"update"`) != 1 {
		t.Errorf("audit of configuration changes: %s", logs)
	}

}

// TestSettingsFromStore: settings written by another replica are read at
// the next refresh.
func TestSettingsFromStore(t *testing.T) {
	e := newSystemEnv(t)
	if err := e.store.PutSettings(e.ctx, map[string]string{"banner_message": `"from elsewhere"`}); err != nil {
		t.Fatal(err)
	}
	if err := e.api.opt.System.Settings.Refresh(e.ctx); err != nil {
		t.Fatal(err)
	}
	if cfg := decode[map[string]configItem](t, e.expect(200, e.admin, "GET", Prefix+"/configurations", nil)); cfg["banner_message"].Value != "from elsewhere" {
		t.Errorf("banner_message = %+v", cfg["banner_message"])
	}
}

func TestProjectCreationRestriction(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	e.expect(201, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "first"})
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"project_creation_restriction": "adminonly"})
	if body := e.expect(403, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "second"}); !strings.Contains(body, "Only system admin can create project") {
		t.Errorf("403: %s", body)
	}
	e.expect(201, e.admin, "POST", Prefix+"/projects", map[string]any{"project_name": "second"})
	if info := decode[generalInfo](t, e.expect(200, alice, "GET", Prefix+"/systeminfo", nil)); *info.ProjectCreationRestriction != "adminonly" {
		t.Errorf("systeminfo: %s", *info.ProjectCreationRestriction)
	}
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"project_creation_restriction": "everyone"})
	e.expect(201, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "third"})
}

// TestReadOnlyAPI: in read-only mode every change is refused with
// Harbor's 403 DENIED, reads still work, and the mode can be left.
func TestReadOnlyAPI(t *testing.T) {
	e := newSystemEnv(t)
	alice := e.user("alice", false)
	e.project("p", false, map[cred]int{alice: int(rbac.RoleProjectAdmin)})
	d := e.push("p/app", "v1")
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"read_only": true})
	for _, w := range []struct {
		c            cred
		method, path string
		body         any
	}{
		{alice, "POST", "/projects", map[string]any{"project_name": "q"}},
		{e.admin, "DELETE", "/projects/p/repositories/app/artifacts/" + d.String(), nil},
		{alice, "POST", "/projects/p/repositories/app/artifacts/" + d.String() + "/tags", map[string]string{"name": "v2"}},
		{e.admin, "PUT", "/users/1/sysadmin", map[string]bool{"sysadmin_flag": true}},
		{cred{}, "POST", "/users", map[string]string{"username": "x"}},
	} {
		body := e.expect(403, w.c, w.method, Prefix+w.path, w.body)
		if !strings.Contains(body, `"code":"DENIED"`) || !strings.Contains(body, "read only mode") {
			t.Errorf("%s %s: %s", w.method, w.path, body)
		}
	}
	e.expect(200, alice, "GET", Prefix+"/projects/p/repositories/app/artifacts", nil)
	if info := decode[generalInfo](t, e.expect(200, alice, "GET", Prefix+"/systeminfo", nil)); !*info.ReadOnly {
		t.Error("systeminfo: read_only false")
	}
	e.expect(403, alice, "PUT", Prefix+"/configurations", map[string]any{"read_only": false}) // still administrators only
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"read_only": false})
	e.expect(201, alice, "POST", Prefix+"/projects", map[string]any{"project_name": "q"})
}

// TestRobotDefaultDuration: a robot created without a duration lives
// robot_token_duration days.
func TestRobotDefaultDuration(t *testing.T) {
	e := newSystemEnv(t)
	e.project("p", false, nil)
	e.expect(200, e.admin, "PUT", Prefix+"/configurations", map[string]any{"robot_token_duration": 7})
	created := decode[robotCreated](t, e.expect(201, e.admin, "POST", Prefix+"/robots", map[string]any{"name": "ci", "level": "project",
		"permissions": []map[string]any{{"kind": "project", "namespace": "p", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}))
	if want := time.Now().Add(7 * 24 * time.Hour).Unix(); created.ExpiresAt < want-60 || created.ExpiresAt > want+60 {
		t.Errorf("expires_at %d, want about %d", created.ExpiresAt, want)
	}
	if rb := decode[robot](t, e.expect(200, e.admin, "GET", fmt.Sprintf("%s/robots/%d", Prefix, created.ID), nil)); rb.Duration != 7 {
		t.Errorf("duration %d", rb.Duration)
	}
}
