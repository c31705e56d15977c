package harborapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/auditlog"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/health"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
)

// TestSystem: health, system information and the audit log.
func TestSystem(t *testing.T) {
	c := client(t)
	h := must(c.Health.GetHealth(ctx(t), health.NewGetHealthParams()))(t).Payload
	if h.Status != "healthy" || len(h.Components) == 0 {
		t.Errorf("getHealth = %+v", h)
	}

	info := must(c.Systeminfo.GetSystemInfo(ctx(t), systeminfo.NewGetSystemInfoParams()))(t).Payload
	if info.AuthMode == nil || *info.AuthMode != "db_auth" || info.HarborVersion == nil || *info.HarborVersion == "" ||
		info.ExternalURL == nil || *info.ExternalURL != server(t).URL {
		t.Errorf("getSystemInfo = %+v", info)
	}

	proj := newProject(t, c) // something to find in the log
	q := "resource=" + proj
	await(t, func() (bool, string) { // audit records are written in the background
		logs := must(c.Auditlog.ListAuditLogs(ctx(t), auditlog.NewListAuditLogsParams().WithQ(&q)))(t).Payload
		ok := len(logs) == 1 && logs[0].Operation == "create" && logs[0].ResourceType == "project" &&
			logs[0].Username == "admin" && !time.Time(logs[0].OpTime).IsZero()
		return ok, fmt.Sprintf("listAuditLogs q=%s = %s", q, dump(logs))
	})
}
