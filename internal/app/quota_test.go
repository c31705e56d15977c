package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestQuotaEvents: berth serve turns a push that takes a project past 85 %
// of its limit, and a push refused by it, into QUOTA_WARNING and
// QUOTA_EXCEED events, recorded in the project's log by the pusher.
func TestQuotaEvents(t *testing.T) {
	base := authServer(t, nil)
	admin := &creds{"admin", adminPassword}
	usedOf := func(project string) int64 {
		t.Helper()
		_, _, body := call(t, "GET", base+"/api/v2.0/projects/"+project+"/summary", admin, "", nil)
		var sum struct {
			Quota struct{ Used map[string]int64 } `json:"quota"`
		}
		if err := json.Unmarshal(body, &sum); err != nil {
			t.Fatalf("summary: %s", body)
		}
		return sum.Quota.Used["storage"]
	}
	// The same image in a project of the same name length: its size.
	if st, _, body := call(t, "POST", base+"/api/v2.0/projects", admin, "", []byte(`{"project_name":"aaa"}`)); st != 201 {
		t.Fatalf("create project: %d %s", st, body)
	}
	seedImage(t, base, "aaa/app")
	size := usedOf("aaa")
	limit := size * 100 / 90 // the image takes the project to 90 %
	if st, _, body := call(t, "POST", base+"/api/v2.0/projects", admin, "",
		[]byte(fmt.Sprintf(`{"project_name":"bbb","storage_limit":%d}`, limit))); st != 201 {
		t.Fatalf("create project: %d %s", st, body)
	}
	seedImage(t, base, "bbb/app")
	if used := usedOf("bbb"); used != size {
		t.Fatalf("bbb uses %d, want %d", used, size)
	}
	big := bytes.Repeat([]byte{'x'}, int(limit-size)+1)
	st, _, body := call(t, "POST", base+"/v2/bbb/app/blobs/uploads/?digest="+digest.FromBytes(big).String(), admin, "", big)
	if st != 403 || !strings.Contains(string(body), `"code":"DENIED"`) || !strings.Contains(string(body), "will exceed the configured upper limit") {
		t.Fatalf("push past the limit: %d %s", st, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, body = call(t, "GET", base+"/api/v2.0/projects/bbb/logs?q=resource_type%3Dquota", admin, "", nil)
		var logs []struct {
			Username, Resource, Operation string
		}
		if err := json.Unmarshal(body, &logs); err != nil {
			t.Fatalf("logs: %s", body)
		}
		ops := map[string]string{}
		for _, l := range logs {
			if l.Username == "admin" {
				ops[l.Operation] = l.Resource
			}
		}
		if strings.HasPrefix(ops["warning"], "bbb: quota usage reach 85%: resource storage used ") &&
			strings.HasPrefix(ops["exceed"], "bbb: adding ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quota events in the project log: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// aaa is unlimited: no event there.
	_, _, body = call(t, "GET", base+"/api/v2.0/projects/aaa/logs?q=resource_type%3Dquota", admin, "", nil)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("aaa's quota log: %s", body)
	}
}
