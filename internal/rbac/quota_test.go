package rbac

import (
	"strings"
	"testing"
)

// TestQuotaPermissions: /quotas is a system administrator's, as Harbor's
// quota resource (read, list, update) at system scope.
func TestQuotaPermissions(t *testing.T) {
	admin := pairs(SystemPermissions(true, true))
	for _, want := range []string{"quota:read", "quota:list", "quota:update"} {
		if !strings.Contains(admin, want) {
			t.Errorf("administrator lacks %s: %s", want, admin)
		}
	}
	if user := pairs(SystemPermissions(true, false)); strings.Contains(user, "quota") {
		t.Errorf("a user holds %s", user)
	}
}
