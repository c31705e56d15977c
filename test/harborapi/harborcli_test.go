package harborapi

// harbor-cli (github.com/goharbor/harbor-cli, the official Harbor CLI) is
// built on the same go-client but cannot be built here, so its commands
// are replayed: for each command, the go-client calls its source makes
// (cmd/harbor/root/... and pkg/api/..., read at d98afec5, go-client
// v0.213.1), with the same parameter structs. harbor-cli fills those
// structs as literals, never with the generated New...Params, so no
// defaults are added: a *int64 page of 0 is sent as page=0, an empty
// string is left out, a *bool false is sent as false.
//
// Every subtest is named after the command it replays and writes down the
// requests the command sends; cli checks that the replay sent exactly
// those (method, path as escaped on the wire, query, X-Is-Resource-Name,
// JSON body), so the list below is verified, not just read. A command
// stops at its first failed request, as harbor-cli does; the check then
// only asks that what was sent is the start of the list.
//
// The files: harborcli_test.go (login, health, info, logs, and the
// helpers), harborcli_projects_test.go (project, project member),
// harborcli_artifacts_test.go (repo, artifact, artifact tags),
// harborcli_accounts_test.go (user, robot), harborcli_labels_test.go
// (label).

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/auditlog"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/health"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/ping"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/statistic"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
)

// replay is the check of one command's requests.
type replay struct {
	t    *testing.T
	from int // index in calls.list of the command's first request
	want []string
	done bool
}

// cli starts the replay of a command in t: the requests sent from now
// until check (or the end of t) must be want, in order. The tests of this
// package do not run in parallel, so they are t's.
func cli(t *testing.T, want ...string) *replay {
	t.Helper()
	calls.Lock()
	r := &replay{t: t, from: len(calls.list), want: want}
	calls.Unlock()
	t.Cleanup(r.check)
	return r
}

// expect adds requests whose body depends on an earlier answer.
func (r *replay) expect(want ...string) { r.want = append(r.want, want...) }

// check compares what was sent with what harbor-cli sends. Call it before
// looking at the result with more requests.
func (r *replay) check() {
	r.t.Helper()
	if r.done {
		return
	}
	r.done = true
	calls.Lock()
	var got []string
	for _, c := range calls.list[r.from:] {
		got = append(got, c.String())
	}
	calls.Unlock()
	want := make([]string, len(r.want))
	for i, w := range r.want {
		want[i] = canonicalRequest(w)
	}
	if r.t.Failed() && len(got) <= len(want) && slices.Equal(got, want[:len(got)]) {
		return // the command stopped at a failed request, as harbor-cli would
	}
	if !slices.Equal(got, want) {
		r.t.Errorf("the replay sent\n  %s\nharbor-cli sends\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// canonicalRequest re-encodes the JSON body of a written-down request.
func canonicalRequest(s string) string {
	if i := strings.Index(s, " {"); i >= 0 {
		return s[:i+1] + canonicalJSON([]byte(s[i+1:]))
	}
	return s
}

// body encodes v as a written-down request body.
func body(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return canonicalJSON(b)
}

// TestHarborCLISystem replays harbor login, health, info and logs.
func TestHarborCLISystem(t *testing.T) {
	c := client(t)

	t.Run("login", func(t *testing.T) {
		// harbor login URL -u admin -p ... — cmd/harbor/root/login.go,
		// validateClientConnection: the credentials are checked with
		// GetCurrentUserInfo. Only when that fails with neither 401 nor 403
		// does it try ListProjects (page=1&page_size=1) and GetPing.
		cli(t, "GET /users/current")
		me := must(c.User.GetCurrentUserInfo(ctx(t), &user.GetCurrentUserInfoParams{}))(t).Payload
		if me.Username != "admin" {
			t.Errorf("current user %q", me.Username)
		}
	})

	t.Run("health", func(t *testing.T) {
		// harbor health — cmd/harbor/root/health.go: api.Ping
		// (pkg/api/ping_handler.go), then api.GetHealth
		// (pkg/api/health_handler.go).
		cli(t, "GET /ping", "GET /health")
		must(c.Ping.GetPing(ctx(t), &ping.GetPingParams{}))(t)
		h := must(c.Health.GetHealth(ctx(t), &health.GetHealthParams{}))(t).Payload
		if h.Status == "" {
			t.Errorf("health status empty: %+v", h)
		}
	})

	t.Run("info", func(t *testing.T) {
		// harbor info — cmd/harbor/root/info.go with pkg/api/info_handler.go:
		// GetSystemInfo, GetStats, GetSystemVolumes, then GetCLIInfo (the
		// current user).
		cli(t, "GET /systeminfo", "GET /statistics", "GET /systeminfo/volumes", "GET /users/current")
		info := must(c.Systeminfo.GetSystemInfo(ctx(t), &systeminfo.GetSystemInfoParams{}))(t).Payload
		if info.AuthMode == nil {
			t.Error("systeminfo has no auth_mode (harbor-cli dereferences it)")
		}
		must(c.Statistic.GetStatistic(ctx(t), &statistic.GetStatisticParams{}))(t)
		must(c.Systeminfo.GetVolumes(ctx(t), &systeminfo.GetVolumesParams{}))(t)
		must(c.User.GetCurrentUserInfo(ctx(t), &user.GetCurrentUserInfoParams{}))(t)
	})

	t.Run("logs", func(t *testing.T) {
		// harbor logs — cmd/harbor/root/logs.go (defaults --page 1
		// --page-size 10), pkg/api/auditLogs_handler.go AuditLogs: the
		// audit log extension API, not /audit-logs.
		cli(t, "GET /auditlog-exts?page=1&page_size=10")
		q, sort, page, size := "", "", int64(1), int64(10)
		must(c.Auditlog.ListAuditLogExts(ctx(t), &auditlog.ListAuditLogExtsParams{Q: &q, Sort: &sort, Page: &page, PageSize: &size}))(t)
	})
}

// lookupUserID is pkg/api/user_handler.go GetUsersIdByName, which the
// user commands use to turn a name into an id: every user on one page,
// asked for with page=0&page_size=0 (Harbor: no paging).
func lookupUserID(t *testing.T, c harborClient, name string) int64 {
	t.Helper()
	var opts struct {
		Page, PageSize int64
		Q, Sort        string
	}
	list := must(c.User.ListUsers(ctx(t), &user.ListUsersParams{Page: &opts.Page, PageSize: &opts.PageSize, Q: &opts.Q, Sort: &opts.Sort}))(t).Payload
	for _, u := range list {
		if u.Username == name {
			return u.UserID
		}
	}
	t.Fatalf("user %s not in the list of %d users", name, len(list))
	return 0
}

// zeroTime is how the go-client sends a zero strfmt.DateTime: its models
// have `json:",omitempty"` on struct-typed times, which never omits them.
const zeroTime = "0001-01-01T00:00:00.000Z"

// idPath formats an id for a written-down path.
func idPath(format string, id int64) string { return fmt.Sprintf(format, id) }
