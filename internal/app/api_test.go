package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestManagementAPIMounted: with access control on, the management API is
// served beside /v2 and sees what was pushed, and a robot it creates can
// pull through the registry.
func TestManagementAPIMounted(t *testing.T) {
	base := authServer(t, nil)
	admin := &creds{"admin", adminPassword}
	if st, _, body := call(t, "POST", base+"/api/v2.0/projects", admin, "", []byte(`{"project_name":"dev"}`)); st != 201 {
		t.Fatalf("create project: %d %s", st, body)
	}
	seedImage(t, base, "dev/app")
	st, h, body := call(t, "GET", base+"/api/v2.0/projects/dev/repositories/app/artifacts", admin, "", nil)
	if st != 200 || h.Get("X-Total-Count") != "1" || !strings.Contains(string(body), `"name":"base"`) {
		t.Fatalf("artifacts: %d %s", st, body)
	}
	st, _, body = call(t, "POST", base+"/api/v2.0/robots", admin, "", []byte(`{"name":"ci","level":"project","duration":-1,
		"permissions":[{"kind":"project","namespace":"dev","access":[{"resource":"repository","action":"pull"}]}]}`))
	var robot struct{ Name, Secret string }
	if st != 201 || json.Unmarshal(body, &robot) != nil || robot.Name != "robot$dev+ci" {
		t.Fatalf("create robot: %d %s", st, body)
	}
	if st, _, _ := call(t, "GET", base+"/v2/dev/app/manifests/base", &creds{robot.Name, robot.Secret}, "", nil); st != 200 {
		t.Errorf("robot pull: %d", st)
	}
	if st, _, _ := call(t, "GET", base+"/api/v2.0/systeminfo", nil, "", nil); st != 200 {
		t.Errorf("systeminfo: %d", st)
	}
	// Registry pushes reach the project log through the audit sink.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, body = call(t, "GET", base+"/api/v2.0/projects/dev/logs?q=operation%3Dpush", admin, "", nil)
		if strings.Contains(string(body), `"resource":"dev/app@sha256:`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(body), `"resource":"dev/app@sha256:`) {
		t.Errorf("project log: %s", body)
	}
}
