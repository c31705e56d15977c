package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/settings"
)

type env struct {
	t       *testing.T
	path    string
	store   *sqlstore.Store
	sealer  *settings.Sealer
	project *meta.Project
	bus     *events.Bus
}

func newEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meta.db")
	store, err := sqlstore.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p := &meta.Project{Name: "p", Public: true}
	if err := store.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	sealer, err := settings.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, path: path, store: store, sealer: sealer, project: p, bus: events.New()}
}

// service is a webhook service on e's store with fast retries, running
// until the test ends (or stop is called).
func (e *env) service(holder string) (s *Service, stop func()) {
	s = New(Options{Store: e.store, Projects: e.store, Sealer: e.sealer, Host: "reg.test", Holder: holder,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Timeout: 3 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Poll: 20 * time.Millisecond})
	s.Subscribe(context.Background(), e.bus)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return s, stop
}

func (e *env) policy(s *Service, p Policy) *Policy {
	e.t.Helper()
	p.Enabled = true
	if p.Name == "" {
		p.Name = "hook"
	}
	if p.EventTypes == nil {
		p.EventTypes = []string{string(events.PushArtifact)}
	}
	if err := s.Create(context.Background(), e.project.ID, &p, "admin"); err != nil {
		e.t.Fatal(err)
	}
	return &p
}

func (e *env) push(repo string, d digest.Digest, tags ...string) {
	e.bus.Publish(context.Background(), events.Event{Type: events.PushArtifact, Operator: "alice", Project: "p", Repo: "p/" + repo,
		Digest: d, Tags: tags, At: time.Unix(1700000000, 0)})
}

// receiver records what it is sent; fail decides, per request, to answer
// 500 instead.
type receiver struct {
	mu   sync.Mutex
	got  []*recorded
	fail func(r *recorded) bool
	srv  *httptest.Server
}

type recorded struct {
	path   string
	query  url.Values
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, fail func(r *recorded) bool) *receiver {
	rc := &receiver{fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := &recorded{path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: b}
		if rc.fail != nil && rc.fail(rec) {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, rec)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// wait returns the first n accepted requests, failing after 10 s.
func (rc *receiver) wait(t *testing.T, n int) []*recorded {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]*recorded(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d deliveries", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliveryEachNotifyType(t *testing.T) {
	e := newEnv(t)
	s, _ := e.service("r1")
	rc := newReceiver(t, nil)
	p := e.policy(s, Policy{Targets: []Target{
		{Type: NotifyHTTP, Address: rc.srv.URL + "/default", AuthHeader: "Bearer s3cr3t"},
		{Type: NotifyHTTP, Address: rc.srv.URL + "/cloudevents", PayloadFormat: FormatCloudEvents},
		{Type: NotifySlack, Address: rc.srv.URL + "/slack"},
		{Type: NotifyDingTalk, Address: rc.srv.URL + "/dingtalk?access_token=tok", AuthHeader: "SECdingsecret"},
		{Type: NotifyTeams, Address: rc.srv.URL + "/teams"},
		{Type: NotifyTeams, Address: rc.srv.URL + "/adaptive", PayloadFormat: FormatAdaptiveCard},
	}})
	if len(p.Secret) != 64 {
		t.Fatalf("generated secret %q", p.Secret)
	}
	d := digest.FromString("image")
	e.push("app", d, "v1")
	byPath := map[string]*recorded{}
	for _, r := range rc.wait(t, 6) {
		byPath[r.path] = r
		if got, want := r.header.Get(SignatureHeader), Sign(p.Secret, r.body); got != want {
			t.Errorf("%s: signature %q, want %q", r.path, got, want)
		}
		if r.header.Get(EventHeader) != "PUSH_ARTIFACT" || r.header.Get(DeliveryHeader) == "" {
			t.Errorf("%s: headers %v", r.path, r.header)
		}
	}

	def := byPath["/default"]
	if def.header.Get("Authorization") != "Bearer s3cr3t" || def.header.Get("Content-Type") != "application/json" {
		t.Errorf("default: headers %v", def.header)
	}
	var pl struct {
		Type      string `json:"type"`
		OccurAt   int64  `json:"occur_at"`
		Operator  string `json:"operator"`
		EventData struct {
			Resources  []Resource `json:"resources"`
			Repository Repository `json:"repository"`
		} `json:"event_data"`
	}
	if err := json.Unmarshal(def.body, &pl); err != nil {
		t.Fatal(err)
	}
	wantRes := Resource{Digest: string(d), Tag: "v1", ResourceURL: "reg.test/p/app:v1"}
	wantRepo := Repository{Name: "app", Namespace: "p", RepoFullName: "p/app", RepoType: "public"}
	if pl.Type != "PUSH_ARTIFACT" || pl.OccurAt != 1700000000 || pl.Operator != "alice" || len(pl.EventData.Resources) != 1 ||
		pl.EventData.Resources[0] != wantRes || pl.EventData.Repository != wantRepo {
		t.Errorf("default payload %s", def.body)
	}

	ce := byPath["/cloudevents"]
	var env map[string]any
	if err := json.Unmarshal(ce.body, &env); err != nil {
		t.Fatal(err)
	}
	if ce.header.Get("Content-Type") != "application/cloudevents+json" || ce.header.Get("Authorization") != "" ||
		env["specversion"] != "1.0" || env["type"] != "harbor.artifact.pushed" || env["operator"] != "alice" ||
		env["source"] != fmt.Sprintf("/projects/%d/webhook/policies/%d", e.project.ID, p.ID) ||
		env["datacontenttype"] != "application/json" || env["id"] == "" || env["time"] != "2023-11-14T22:13:20Z" {
		t.Errorf("cloudevents %s", ce.body)
	}
	if data, _ := env["data"].(map[string]any); data == nil || data["repository"] == nil || data["resources"] == nil {
		t.Errorf("cloudevents data %s", ce.body)
	}

	var slack struct {
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Type, Text string
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(byPath["/slack"].body, &slack); err != nil || len(slack.Blocks) != 6 ||
		slack.Blocks[1].Text.Text != "*event_type:* PUSH_ARTIFACT" || !strings.Contains(slack.Blocks[5].Text.Text, `"repo_full_name": "p/app"`) {
		t.Errorf("slack %s (%v)", byPath["/slack"].body, err)
	}

	dt := byPath["/dingtalk"]
	ts, err := strconv.ParseInt(dt.query.Get("timestamp"), 10, 64)
	if err != nil || time.Since(time.UnixMilli(ts)) > time.Minute || dt.query.Get("access_token") != "tok" ||
		dt.query.Get("sign") != DingTalkSign("SECdingsecret", ts) || dt.header.Get("Authorization") != "" {
		t.Errorf("dingtalk query %v", dt.query)
	}
	var ding struct {
		MsgType  string `json:"msgtype"`
		Markdown struct{ Title, Text string }
	}
	if err := json.Unmarshal(dt.body, &ding); err != nil || ding.MsgType != "markdown" || ding.Markdown.Title != "PUSH_ARTIFACT p/app:v1" ||
		!strings.Contains(ding.Markdown.Text, "- **Artifact**: reg.test/p/app:v1") {
		t.Errorf("dingtalk %s", dt.body)
	}

	var card map[string]any
	if err := json.Unmarshal(byPath["/teams"].body, &card); err != nil || card["@type"] != "MessageCard" || card["summary"] != "PUSH_ARTIFACT p/app:v1" {
		t.Errorf("teams %s", byPath["/teams"].body)
	}
	var ac struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string         `json:"contentType"`
			Content     map[string]any `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(byPath["/adaptive"].body, &ac); err != nil || ac.Type != "message" || len(ac.Attachments) != 1 ||
		ac.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" || ac.Attachments[0].Content["type"] != "AdaptiveCard" {
		t.Errorf("adaptive card %s", byPath["/adaptive"].body)
	}

	// The history: one execution, six successful tasks with their codes
	// and logs (the payload sent, no query string).
	xs, total, err := e.store.WebhookExecutions(context.Background(), p.ID, meta.ListQuery{})
	if err != nil || total != 1 {
		t.Fatalf("executions %v %d %v", xs, total, err)
	}
	waitStatus(t, e.store, xs[0].ID, meta.JobSuccess)
	tasks, _, err := e.store.WebhookTasks(context.Background(), xs[0].ID, meta.ListQuery{})
	if err != nil || len(tasks) != 6 {
		t.Fatal(tasks, err)
	}
	for _, k := range tasks {
		log, err := e.store.WebhookTaskLog(context.Background(), k.ID)
		if err != nil || k.Status != meta.JobSuccess || k.LastCode != 200 || k.RunCount != 1 || !strings.Contains(log, "payload: ") ||
			strings.Contains(log, "access_token") || strings.Contains(log, "s3cr3t") {
			t.Errorf("task %+v log %q", k, log)
		}
	}
}

func waitStatus(t *testing.T, store meta.WebhookStore, execution int64, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		x, err := store.WebhookExecution(context.Background(), execution)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %d is %s, want %s", execution, x.Status, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tagOf is the tag a Default payload names.
func tagOf(t *testing.T, body []byte) string {
	var pl struct {
		EventData struct {
			Resources []Resource `json:"resources"`
		} `json:"event_data"`
	}
	if err := json.Unmarshal(body, &pl); err != nil || len(pl.EventData.Resources) == 0 {
		t.Fatalf("payload %s: %v", body, err)
	}
	return pl.EventData.Resources[0].Tag
}

// A receiver that fails for a while then recovers gets every event
// exactly once, in order per artifact.
func TestFailingReceiverRecovers(t *testing.T) {
	e := newEnv(t)
	s, _ := e.service("r1")
	var mu sync.Mutex
	down, failures := true, 0
	rc := newReceiver(t, func(*recorded) bool {
		mu.Lock()
		defer mu.Unlock()
		if down {
			failures++
		}
		return down
	})
	e.policy(s, Policy{Targets: []Target{{Type: NotifyHTTP, Address: rc.srv.URL}}})
	a, b := digest.FromString("a"), digest.FromString("b")
	const n = 8
	for i := range n {
		e.push("app", a, fmt.Sprintf("a%d", i))
		e.push("app", b, fmt.Sprintf("b%d", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		f := failures
		mu.Unlock()
		if f >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d failed attempts", f)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	rc.wait(t, 2*n)
	time.Sleep(300 * time.Millisecond) // anything extra would arrive now
	got := rc.wait(t, 2*n)
	if len(got) != 2*n {
		t.Fatalf("%d deliveries, want %d", len(got), 2*n)
	}
	var as, bs []string
	for _, r := range got {
		switch tag := tagOf(t, r.body); tag[0] {
		case 'a':
			as = append(as, tag)
		default:
			bs = append(bs, tag)
		}
	}
	for i := range n {
		if as[i] != fmt.Sprintf("a%d", i) || bs[i] != fmt.Sprintf("b%d", i) {
			t.Fatalf("out of order or repeated: %v %v", as, bs)
		}
	}
}

// Deliveries recorded by one process are sent by the next: pending ones,
// and one whose holder died with its lease.
func TestDeliveriesSurviveRestart(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there: every attempt fails
	s1, stop1 := e.service("r1")
	p := e.policy(s1, Policy{Targets: []Target{{Type: NotifyHTTP, Address: deadURL + "/?access_token=tok"}}})
	e.push("app", digest.FromString("x"), "v1")
	e.push("app", digest.FromString("y"), "v2")
	xs := waitExecutions(t, e.store, p.ID, 2)
	// A failed attempt is logged without the address's query.
	var failed *meta.WebhookTask
	for deadline := time.Now().Add(5 * time.Second); failed == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed attempt")
		}
		for _, x := range xs {
			tasks, _, err := e.store.WebhookTasks(context.Background(), x.ID, meta.ListQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tasks) == 1 && tasks[0].RunCount > 0 {
				failed = &tasks[0]
			}
		}
	}
	stop1()
	log, err := e.store.WebhookTaskLog(context.Background(), failed.ID)
	if err != nil || !strings.Contains(log, "connection refused") || strings.Contains(log+failed.StatusMessage, "tok") {
		t.Fatalf("a refused attempt: %+v, log %q", failed, log)
	}
	// A replica claims one delivery (once its retry is due) and dies
	// holding it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		claimed, err := e.store.ClaimWebhookTasks(context.Background(), "dead-replica", 300*time.Millisecond, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery came due")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The receiver moves and the policy follows it; a new process starts
	// on the same database.
	p.Targets[0].Address = rc.srv.URL
	if err := s1.Update(context.Background(), p.ID, p); err != nil {
		t.Fatal(err)
	}
	store2, err := sqlstore.OpenSQLite(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	e.store = store2
	e.service("r2")
	got := rc.wait(t, 2)
	if tags := []string{tagOf(t, got[0].body), tagOf(t, got[1].body)}; len(got) != 2 || tags[0] == tags[1] {
		t.Fatalf("deliveries after restart: %v", tags)
	}
	for _, x := range xs {
		waitStatus(t, store2, x.ID, meta.JobSuccess)
	}
}

func waitExecutions(t *testing.T, store meta.WebhookStore, policy int64, n int) []meta.WebhookExecution {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		xs, total, err := store.WebhookExecutions(context.Background(), policy, meta.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if total >= int64(n) {
			return xs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d executions, want %d", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t)
	s, _ := e.service("r1")
	rc := newReceiver(t, nil)
	e.policy(s, Policy{Targets: []Target{{Type: NotifyHTTP, Address: rc.srv.URL}},
		RepositoryFilters: []string{"team/**"}, TagFilters: []string{"v*", "release-?"}})
	e.push("other", digest.FromString("1"), "v1")     // repository filtered out
	e.push("team/app", digest.FromString("2"), "dev") // tag filtered out
	e.push("team/app", digest.FromString("3"), "dev", "v3")
	e.push("team/sub/app", digest.FromString("4"), "release-1")
	rc.wait(t, 2)
	time.Sleep(200 * time.Millisecond)
	got := rc.wait(t, 2)
	tags := map[string]bool{}
	for _, r := range got {
		tags[tagOf(t, r.body)] = true
	}
	if len(got) != 2 || !tags["v3"] || !tags["release-1"] {
		t.Fatalf("delivered %v", tags)
	}
}

// Pulls are subscribed to only once a policy wants them: until then a
// manifest GET builds no event.
func TestPullsSubscribedOnDemand(t *testing.T) {
	e := newEnv(t)
	s, _ := e.service("r1")
	if e.bus.Wants(events.PullArtifact) || !e.bus.Wants(events.PushArtifact) {
		t.Fatal("subscribed to pulls without a policy of them")
	}
	rc := newReceiver(t, nil)
	e.policy(s, Policy{EventTypes: []string{"PULL_ARTIFACT"}, Targets: []Target{{Type: NotifyHTTP, Address: rc.srv.URL}}})
	if !e.bus.Wants(events.PullArtifact) {
		t.Fatal("a policy of pulls, and no subscription")
	}
	e.bus.Publish(context.Background(), events.Event{Type: events.PullArtifact, Project: "p", Repo: "p/app", Digest: digest.FromString("x")})
	if got := rc.wait(t, 1); tagOf(t, got[0].body) != string(digest.FromString("x")) {
		t.Fatalf("pull by digest: %s", got[0].body)
	}
}

// skip_cert_verify is honoured, and a redirect to another host is not
// followed (the delivery fails with the 3xx and is retried).
func TestTLSAndRedirects(t *testing.T) {
	e := newEnv(t)
	s, _ := e.service("r1")
	var mu sync.Mutex
	var hits []string
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, "tls"+r.URL.Path)
		mu.Unlock()
	}))
	tlsSrv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshakes
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	other := newReceiver(t, nil)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
			return
		}
		if r.URL.Path == "/final" {
			mu.Lock()
			hits = append(hits, "redirected")
			mu.Unlock()
			return
		}
		http.Redirect(w, r, other.srv.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	p := e.policy(s, Policy{Targets: []Target{
		{Type: NotifyHTTP, Address: tlsSrv.URL + "/verified"},
		{Type: NotifyHTTP, Address: tlsSrv.URL + "/skipped", SkipCertVerify: true},
		{Type: NotifyHTTP, Address: redirector.URL + "/same"},
		{Type: NotifyHTTP, Address: redirector.URL + "/cross"},
	}})
	e.push("app", digest.FromString("x"), "v1")
	xs := waitExecutions(t, e.store, p.ID, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _, err := e.store.WebhookTasks(context.Background(), xs[0].ID, meta.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) == 4 && tasks[0].RunCount >= 2 && tasks[1].Status == meta.JobSuccess && tasks[2].Status == meta.JobSuccess &&
			tasks[3].RunCount >= 2 && tasks[3].LastCode == http.StatusTemporaryRedirect && tasks[0].LastCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks %+v", tasks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(hits, "tls/skipped") || slices.Contains(hits, "tls/verified") || !slices.Contains(hits, "redirected") {
		t.Errorf("hits %v", hits)
	}
	other.mu.Lock()
	defer other.mu.Unlock()
	if len(other.got) != 0 {
		t.Errorf("a redirect to another host was followed")
	}
}

// Two replicas on one database: every event is delivered once, by one
// of them, whichever published it.
func TestTwoReplicasDeliverOnce(t *testing.T) {
	e := newEnv(t)
	s1, _ := e.service("r1")
	store2, err := sqlstore.OpenSQLite(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store2.Close() })
	e2 := &env{t: t, path: e.path, store: store2, sealer: e.sealer, project: e.project, bus: events.New()}
	e2.service("r2")
	rc := newReceiver(t, nil)
	e.policy(s1, Policy{Targets: []Target{{Type: NotifyHTTP, Address: rc.srv.URL}}})
	const n = 30
	for i := range n {
		pub := e
		if i%2 == 1 {
			pub = e2
		}
		pub.push("app", digest.FromString(strconv.Itoa(i)), "t"+strconv.Itoa(i))
	}
	rc.wait(t, n)
	time.Sleep(300 * time.Millisecond) // anything repeated would arrive now
	got := rc.wait(t, n)
	seen := map[string]bool{}
	for _, r := range got {
		tag := tagOf(t, r.body)
		if seen[tag] {
			t.Errorf("%s delivered twice", tag)
		}
		seen[tag] = true
	}
	if len(seen) != n {
		t.Fatalf("%d events delivered, want %d", len(seen), n)
	}
}

type detail struct{}

func (detail) EventData() map[string]any {
	return map[string]any{"custom_attributes": map[string]string{"Details": "over quota"}}
}

// An event's Detail adds to event_data (as a quota event's does).
func TestEventDataFromDetail(t *testing.T) {
	p := payloadOf(events.Event{Type: events.QuotaExceed, Project: "p", Repo: "p/app", Digest: digest.FromString("x"), Detail: detail{}},
		nil, false, "h")
	b, _ := json.Marshal(p)
	if !strings.Contains(string(b), `"custom_attributes":{"Details":"over quota"}`) || !strings.Contains(string(b), `"repo_type":"private"`) {
		t.Fatalf("payload %s", b)
	}
}

func TestCheck(t *testing.T) {
	ok := func() Policy {
		return Policy{Name: "n", EventTypes: []string{"PUSH_ARTIFACT"}, Targets: []Target{{Type: NotifyHTTP, Address: "https://h/x"}}}
	}
	p := ok()
	if err := Check(&p); err != nil || p.Targets[0].PayloadFormat != FormatDefault {
		t.Fatal(err, p.Targets[0])
	}
	for name, mod := range map[string]func(*Policy){
		"no name":       func(p *Policy) { p.Name = " " },
		"no targets":    func(p *Policy) { p.Targets = nil },
		"no events":     func(p *Policy) { p.EventTypes = nil },
		"unknown event": func(p *Policy) { p.EventTypes = []string{"CREATE_TAG"} },
		"unknown type":  func(p *Policy) { p.Targets[0].Type = "email" },
		"bad address":   func(p *Policy) { p.Targets[0].Address = "ftp://h" },
		"slack format": func(p *Policy) {
			p.Targets[0] = Target{Type: NotifySlack, Address: "https://h", PayloadFormat: FormatDefault}
		},
		"http format":     func(p *Policy) { p.Targets[0].PayloadFormat = FormatMessageCard },
		"bad filter":      func(p *Policy) { p.TagFilters = []string{"[a"} },
		"empty filter":    func(p *Policy) { p.RepositoryFilters = []string{""} },
		"too many target": func(p *Policy) { p.Targets = make([]Target, maxTargets+1) },
	} {
		p := ok()
		mod(&p)
		if err := Check(&p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A full buffer drops events rather than block the publisher.
func TestBufferOverflowDrops(t *testing.T) {
	e := newEnv(t)
	s := New(Options{Store: e.store, Projects: e.store, Sealer: e.sealer, Buffer: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.Subscribe(context.Background(), e.bus)
	start := time.Now()
	for range 10 {
		e.push("app", digest.FromString("x"), "v")
	}
	if s.Dropped() != 8 || time.Since(start) > time.Second {
		t.Fatalf("dropped %d in %s", s.Dropped(), time.Since(start))
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second} {
		for range 20 {
			d := backoff(n, time.Second, 10*time.Second)
			if d < want*3/4 || d > want*5/4 {
				t.Fatalf("backoff(%d) = %s, want %s ±25%%", n, d, want)
			}
		}
	}
	if d := backoff(100, time.Second, time.Hour); d > 5*time.Hour/4 {
		t.Fatalf("backoff(100) = %s", d)
	}
}
