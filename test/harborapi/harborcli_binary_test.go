//go:build harborcli

package harborapi

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHarborCLIBinary runs the real harbor-cli, when there is one, against
// berth: BERTH_HARBOR_CLI names its binary (built from
// github.com/goharbor/harbor-cli, whose module the module proxy does not
// serve, so CI has none: the file is built only with -tags harborcli, so
// that make test counts no skip; the replays in harborcli*_test.go stand
// for it there). The commands are the non-interactive ones of the
// commands issue 11 lists, with -o json where they print a table (tables
// and confirmations need a terminal).
func TestHarborCLIBinary(t *testing.T) {
	bin := os.Getenv("BERTH_HARBOR_CLI")
	if bin == "" {
		t.Fatal("BERTH_HARBOR_CLI is not set (the path of a harbor-cli binary)")
	}
	c := client(t)
	home := t.TempDir()
	proj, other := unique("hcli"), newProject(t, c)
	pushImage(t, other+"/app", "v1")
	pushImage(t, other+"/tool", "v1")
	user, robotName := unique("hcliuser"), unique("hclirobot")
	run := func(args ...string) string {
		t.Helper()
		cx, cancel := context.WithTimeout(ctx(t), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cx, bin, args...)
		cmd.Dir = home // robot create -o json writes robot$NAME.json here
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_DATA_HOME="+home+"/.local/share")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "level=fatal") || strings.Contains(string(out), "level=error") {
			t.Errorf("harbor %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("login", server(t).URL, "-u", "admin", "-p", adminPassword)
	run("info", "-o", "json")
	run("logs", "-o", "json")
	run("project", "create", proj, "--storage-limit", "1GiB")
	run("project", "list", "-o", "json")
	run("project", "view", proj, "-o", "json")
	run("project", "summary", proj, "-o", "json")
	run("project", "logs", proj, "-o", "json")
	run("user", "create", "--username", user, "--email", user+"@example.com", "--realname", "H C", "--password", "Passw0rd123")
	if out := run("user", "list", "-n", "0", "-o", "json"); !strings.Contains(out, user) {
		t.Errorf("user list lacks %s: %s", user, out)
	}
	run("project", "member", "create", proj, "--username", user, "--roleid", "2")
	run("project", "member", "list", proj, "-o", "json")
	run("project", "member", "update", proj, "--member", user, "--roleid", "3")
	run("project", "member", "delete", proj, "-u", user)
	run("repo", "list", other, "-o", "json")
	run("repo", "view", other+"/app", "-o", "json")
	run("repo", "update", other+"/app", "-d", "described")
	run("artifact", "list", other+"/app", "-o", "json")
	run("artifact", "view", other+"/app:v1", "-o", "json")
	run("artifact", "tags", "list", other+"/app:v1", "-o", "json")
	run("artifact", "tags", "create", other+"/app:v1", "v1b")
	run("artifact", "tags", "delete", other+"/app:v1", "v1b")
	label := unique("hclilabel")
	run("label", "create", "-n", label, "--color", "#FF0000", "-d", "d")
	run("label", "list", "-o", "json")
	run("artifact", "label", "add", other+"/app:v1", label)
	run("artifact", "label", "delete", other+"/app:v1", label)
	run("label", "delete", label)
	run("robot", "create", "--name", robotName, "--project", other, "--description", "d", "--duration", "30", "-a", "-o", "json")
	run("robot", "list", "-o", "json")
	run("robot", "delete", "robot$"+robotName)
	run("user", "delete", user)
	run("artifact", "delete", other+"/tool:v1")
	run("repo", "delete", other+"/tool")
	run("project", "delete", proj)
}
